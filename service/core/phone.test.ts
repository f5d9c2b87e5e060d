import { describe, expect, it } from 'vitest';
import { maskPhone } from './phone.js';

describe('maskPhone', () => {
  it('keeps the familiar shape for an 11-digit number', () => {
    expect(maskPhone('+14155550777')).toBe('+1415•••0777');
  });

  it('hides at least 3 digits of a short number, and shows no more than 4 at either end', () => {
    expect(maskPhone('+4741234567')).toBe('+4741•••567'); // Norway: 10 digits
    for (let length = 5; length <= 15; length++) {
      const phone = `+${'123456789012345'.slice(0, length)}`;
      const masked = maskPhone(phone);
      const [head = '', tail = ''] = masked.slice(1).split('•••');
      expect(length - head.length - tail.length, masked).toBeGreaterThanOrEqual(3);
      expect(head.length, masked).toBeLessThanOrEqual(4);
      expect(tail.length, masked).toBeLessThanOrEqual(4);
    }
  });
});
