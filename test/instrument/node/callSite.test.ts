import { describe, expect, it } from 'vitest';
import { callerOf, SiteCache } from '../../../instrument/node/src/callSite.js';

function whereAmICalledFrom() {
  return callerOf(whereAmICalledFrom);
}

const cache = new SiteCache();
function cachedSite(key: string) {
  return cache.callerOf(key, 'fn', cachedSite);
}
function fromSiteA(key: string) {
  return cachedSite(key);
}
function fromSiteB(key: string) {
  return cachedSite(key);
}

describe('callerOf', () => {
  it('when called through a boundary, then it names the frame just above it as a file path', () => {
    function theCaller() {
      return whereAmICalledFrom();
    }
    const site = theCaller();
    expect(site?.filepath).toMatch(/^\/.*callSite\.test\.ts$/);
    expect(site?.function).toBe('theCaller');
    expect(site?.lineno).toBeGreaterThan(0);
  });
});

describe('SiteCache', () => {
  it('when one key is used from one site, then the cached site stays that site', () => {
    const sites = Array.from({ length: 300 }, () => fromSiteA('only-a'));
    expect(new Set(sites.map((s) => `${s?.function}:${s?.lineno}`)).size).toBe(1);
    expect(sites[299]?.function).toBe('fromSiteA');
  });

  it('when a trusted key starts coming from a second site, then that site is reported within one verification period', () => {
    for (let i = 0; i < 20; i++) fromSiteA('shared');
    const fromB = Array.from({ length: 600 }, () => fromSiteB('shared')?.function);
    const firstRight = fromB.indexOf('fromSiteB');
    expect(firstRight).toBeGreaterThanOrEqual(0);
    expect(firstRight).toBeLessThan(256);
    // once two sites were seen the key is captured on every call: the rest are all right
    expect(fromB.slice(firstRight).every((f) => f === 'fromSiteB')).toBe(true);
    expect(fromSiteA('shared')?.function).toBe('fromSiteA');
  });
});
