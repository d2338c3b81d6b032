import { describe, expect, it } from 'vitest';
import { warningHeader } from './respond.ts';

describe('warningHeader (RFC 7234 §5.5)', () => {
  it.each([
    ['plain text', 'Not scored: x', '199 - "Not scored: x"'],
    ['quotes and backslashes are escaped', 'a "b" \\c', '199 - "a \\"b\\" \\\\c"'],
    ['non-ASCII and control characters become ?', 'é\r\nx', '199 - "???x"'],
    ['cut at 300 characters before escaping', `${'a'.repeat(299)}"`, `199 - "${'a'.repeat(299)}\\""`],
  ])('%s', (_name, text, expected) => {
    expect(warningHeader(text)).toBe(expected);
  });
});
