import { describe, expect, it } from 'vitest';
import { innermostFrame, parseSiteAttr } from '../../../server/judge/swallowSiteOf.js';

describe('swallowSiteOf', () => {
  describe('parseSiteAttr', () => {
    it('when the site has no function, then only path and line are read', () => {
      expect(parseSiteAttr('/srv/a:b.py:12')).toEqual({ filepath: '/srv/a:b.py', lineno: 12 });
    });

    it('when the path itself holds " in ", then the last ":line in fn" is the split point', () => {
      expect(parseSiteAttr('/my in dir/x.py:3 in run')).toEqual({ filepath: '/my in dir/x.py', lineno: 3, function: 'run' });
    });

    it('when there is no line number, then the whole value is the path', () => {
      expect(parseSiteAttr('worker.py')).toEqual({ filepath: 'worker.py' });
    });
  });

  describe('innermostFrame', () => {
    it('when a JS frame has no function name, then only path and line are read', () => {
      expect(innermostFrame('Error\n    at /srv/x.mjs:4:9')).toEqual({ filepath: '/srv/x.mjs', lineno: 4 });
    });

    it('when a JS path holds a scheme, then the line is still the second number from the right', () => {
      expect(innermostFrame('Error\n    at async handler (file:///srv/h.js:10:2)')).toEqual({
        filepath: 'file:///srv/h.js',
        lineno: 10,
        function: 'handler',
      });
    });

    it('when the text has no frame, then there is no site', () => {
      expect(innermostFrame('CancelledError')).toBeUndefined();
    });
  });
});
