import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRoute, routeHash } from '../../web/src/router.js';

describe('parseRoute', () => {
  it('when the hash names a task of a shutdown, then both ids are read', () => {
    expect(parseRoute('#/shutdowns/abc-123/tasks/00f1')).toEqual({ view: 'shutdown', id: 'abc-123', taskId: '00f1' });
  });

  it('when the hash is empty or unknown, then it is the list', () => {
    expect(parseRoute('')).toEqual({ view: 'list' });
    expect(parseRoute('#/nope')).toEqual({ view: 'list' });
  });

  it('when the list hash carries filters, then they are read and unknown keys ignored', () => {
    expect(parseRoute('#/?service=api%20gw&outcome=timeout&q=SIGTERM&x=1')).toEqual({ view: 'list', service: 'api gw', outcome: 'timeout', q: 'SIGTERM' });
  });

  test.prop([
    fc.record(
      { service: fc.string({ minLength: 1 }), outcome: fc.string({ minLength: 1 }), q: fc.string({ minLength: 1 }), sort: fc.string({ minLength: 1 }) },
      { requiredKeys: [] },
    ),
  ])('routeHash and parseRoute are inverse for the filtered list', (filters) => {
    const route = { view: 'list' as const, ...filters };
    expect(parseRoute(routeHash(route))).toEqual(route);
  });

  it('when a shutdown hash carries search, filters, order and zoom, then they round-trip', () => {
    const route = {
      view: 'shutdown' as const,
      id: 'abc-1',
      taskId: '00f1',
      filters: { q: 'ORD 42', verdict: 'swallowed', finding: 'slow_cancel', coroutine: 'w', site: 'a.py:3', order: 'held', from: -1.5, to: 200 },
    };
    expect(parseRoute(routeHash(route))).toEqual(route);
    expect(parseRoute('#/shutdowns/abc-1?from=x&to=5')).toEqual({ view: 'shutdown', id: 'abc-1', filters: { to: 5 } });
  });

  test.prop([fc.string({ minLength: 1 }), fc.option(fc.string({ minLength: 1 }), { nil: undefined })])(
    'routeHash and parseRoute are inverse for shutdown routes',
    (id, taskId) => {
      const route = taskId === undefined ? { view: 'shutdown' as const, id } : { view: 'shutdown' as const, id, taskId };
      expect(parseRoute(routeHash(route))).toEqual(route);
    },
  );
});
