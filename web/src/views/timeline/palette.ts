/** Colours the canvas draws with that depend on the page's theme (light or dark), read from CSS custom properties. */
export interface CanvasPalette {
  /** cancel ticks and marks */
  ink: string;
  /** every other row's background */
  stripe: string;
  /** background of a row with a highlighted (bad) verdict */
  alarm: string;
  /** the clipped-start notch */
  notch: string;
  /** outline of the selected row */
  selected: string;
  /** marker of a row that matches the search */
  match: string;
}

const FALLBACK: CanvasPalette = {
  ink: '#111',
  stripe: 'rgba(0,0,0,0.025)',
  alarm: 'rgba(214,39,40,0.08)',
  notch: '#fff',
  selected: '#1f77b4',
  match: '#f5b800',
};

/** The palette of the theme in force on `el` (style.css sets `--canvas-*` per colour scheme). */
export function canvasPalette(el: Element): CanvasPalette {
  const style = getComputedStyle(el);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    ink: read('--canvas-ink', FALLBACK.ink),
    stripe: read('--canvas-stripe', FALLBACK.stripe),
    alarm: read('--canvas-alarm', FALLBACK.alarm),
    notch: read('--canvas-notch', FALLBACK.notch),
    selected: read('--canvas-selected', FALLBACK.selected),
    match: read('--canvas-match', FALLBACK.match),
  };
}
