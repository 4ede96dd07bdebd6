import { describe, expect, it } from 'vitest';
import { siteGroups } from '../../../web/src/layout/siteGroups.js';
import { apiTask, at } from '../fixtures.js';

describe('siteGroups', () => {
  it('when one handler swallowed three times across two services, then it is one line with its count, first and last seen', () => {
    const swallow = { filepath: 'pool.py', lineno: 42 };
    const groups = siteGroups([
      apiTask({ spanId: '1', coroutine: 'handle', verdict: 'swallowed', swallowSite: swallow, endedAt: at(300), service: 'b' }),
      apiTask({ spanId: '2', coroutine: 'handle', verdict: 'swallowed', swallowSite: swallow, endedAt: at(100), service: 'a' }),
      apiTask({ spanId: '3', coroutine: 'handle', verdict: 'swallowed', swallowSite: swallow, endedAt: at(200), service: 'a' }),
      apiTask({ spanId: '4', coroutine: 'other', verdict: 'cancelled', endedAt: at(50) }),
    ]);
    expect(groups).toHaveLength(2);
    expect(groups[0]).toMatchObject({ coroutine: 'handle', site: 'pool.py:42', count: 3, swallowed: 3, services: ['a', 'b'] });
    expect(groups[0].firstSeen).toBe(BigInt(at(100)));
    expect(groups[0].lastSeen).toBe(BigInt(at(300)));
    expect(groups[1]).toMatchObject({ coroutine: 'other', swallowed: 0, site: 'app/worker.py:10' });
  });
});
