import { describe, expect, it } from 'vitest';
import { bearerTokenMatches, tokenMatches } from '../../../collector/receiver/bearerToken.js';

describe('bearerTokenMatches', () => {
  it.each([
    ['Bearer s3cret', true],
    ['bearer s3cret', true],
    ['Bearer  s3cret ', true],
    ['Bearer s3cre', false],
    ['Bearer s3cret2', false],
    ['Basic s3cret', false],
    ['s3cret', false],
    ['', false],
  ])('when the header is %j, then %s', (header, expected) => {
    expect(bearerTokenMatches(header, 's3cret')).toBe(expected);
  });

  it('when there is no header, then false', () => {
    expect(bearerTokenMatches(undefined, 's3cret')).toBe(false);
  });
});

describe('tokenMatches', () => {
  it('when the candidate differs only in length, then false', () => {
    expect(tokenMatches('abc', 'abcd')).toBe(false);
    expect(tokenMatches('abcd', 'abcd')).toBe(true);
  });
});
