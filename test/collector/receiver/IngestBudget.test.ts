import { describe, expect, it } from 'vitest';
import { IngestBudget, IngestOverloadedError } from '../../../collector/receiver/IngestBudget.js';

const MIB = 1024 * 1024;

function refusal(fn: () => unknown): IngestOverloadedError {
  try {
    fn();
  } catch (err) {
    if (err instanceof IngestOverloadedError) return err;
    throw err;
  }
  throw new Error('expected an IngestOverloadedError');
}

describe('IngestBudget', () => {
  describe('admit', () => {
    it('when the process is over maxMemoryMiB, then 503 with the retry delay and the refusal is counted', () => {
      const budget = new IngestBudget({ maxMemoryMiB: 100, memoryBytes: () => 150 * MIB, retryAfterSeconds: 2 });
      const err = refusal(() => budget.admit());
      expect(err).toMatchObject({ httpStatus: 503, reason: 'memory', retryAfterSeconds: 2, retryable: true });
      expect(err.message).toMatch(/over its memory limit \(150 of 100 MiB\)/);
      expect(budget.stats().shed.memory).toBe(1);
    });

    it('when the process is under maxMemoryMiB, then a ticket', () => {
      const budget = new IngestBudget({ maxMemoryMiB: 100, memoryBytes: () => 50 * MIB });
      expect(() => budget.admit().release()).not.toThrow();
    });

    it('when maxPendingBatches batches wait for the store, then 429 until one is released', () => {
      const budget = new IngestBudget({ maxPendingBatches: 2 });
      const [a, b] = [budget.admit(), budget.admit()];
      a.enterBatch();
      b.enterBatch();
      expect(refusal(() => budget.admit())).toMatchObject({ httpStatus: 429, reason: 'batches' });
      a.release();
      expect(() => budget.admit()).not.toThrow();
      expect(budget.stats()).toMatchObject({ pendingBatches: 1, shed: { batches: 1 } });
    });

    it('when the oldest batch has waited longer than maxQueueDelayMs for the store, then 429 until it is stored', async () => {
      const budget = new IngestBudget({ maxQueueDelayMs: 20 });
      const slow = budget.admit();
      slow.enterBatch();
      await new Promise((r) => setTimeout(r, 40));
      expect(refusal(() => budget.admit())).toMatchObject({ httpStatus: 429, reason: 'delay' });
      slow.release();
      expect(() => budget.admit()).not.toThrow();
    });

    it('when maxRequestsInFlight requests are being taken in, then 429 at once until one is answered', () => {
      const budget = new IngestBudget({ maxRequestsInFlight: 2 });
      const a = budget.admit();
      budget.admit();
      expect(refusal(() => budget.admit())).toMatchObject({ httpStatus: 429, reason: 'requests' });
      a.release();
      expect(() => budget.admit()).not.toThrow();
      expect(budget.stats()).toMatchObject({ requestsInFlight: 2, shed: { requests: 1 } });
    });

    it("when the next stage's own queue is deep, then it counts toward maxPendingBatches", () => {
      const budget = new IngestBudget({ maxPendingBatches: 3, queueDepth: () => 3 });
      expect(refusal(() => budget.admit()).reason).toBe('batches');
    });
  });

  describe('IngestTicket.take', () => {
    it('when the bytes in flight would pass maxBytesInFlight, then 429 and the ticket keeps only what it held', () => {
      const budget = new IngestBudget({ maxBytesInFlight: 1000 });
      const a = budget.admit();
      const b = budget.admit();
      a.take(600);
      b.take(300);
      expect(refusal(() => b.take(200))).toMatchObject({ httpStatus: 429, reason: 'bytes' });
      expect(b.bytes).toBe(300);
      expect(budget.stats().bytesInFlight).toBe(900);
      a.release();
      b.take(200);
      expect(budget.stats().bytesInFlight).toBe(500);
    });

    it('when one request alone is larger than the budget, then it still goes through (else it could never be taken)', () => {
      const budget = new IngestBudget({ maxBytesInFlight: 1000 });
      const a = budget.admit();
      a.take(800);
      a.take(800);
      expect(a.bytes).toBe(1600);
    });

    it('when a ticket is released twice, then the budget is given back once', () => {
      const budget = new IngestBudget();
      const a = budget.admit();
      a.take(10);
      a.enterBatch();
      a.release();
      a.release();
      expect(budget.stats()).toMatchObject({ bytesInFlight: 0, pendingBatches: 0 });
    });
  });
});
