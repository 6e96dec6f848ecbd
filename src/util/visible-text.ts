/** Text as people see it: invisible characters, blank text, and names that look alike. */

/**
 * Characters that show nothing: controls, format characters (zero-width space / joiner, BOM, bidi
 * marks), every kind of space, default-ignorables (Hangul fillers U+115F U+1160 U+3164 U+FFA0,
 * variation selectors, ...) and the blank braille pattern U+2800.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800]/gu;

/** `text` without its invisible characters. */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, '');
}

/** Whether nothing is left of `text` once invisible characters are removed. */
export function isBlankText(text: string): boolean {
  return visibleText(text).length === 0;
}

/**
 * Letters of other scripts that pass for a Latin one, in either case (mapped before casefolding, so
 * Cyrillic Р stays a P and Greek Μ an M). Lower-case Cyrillic в к м н т look like small capitals.
 */
const HOMOGLYPHS: Record<string, string> = {
  // Cyrillic
  А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', У: 'Y', Х: 'X', Ѕ: 'S', І: 'I', Ј: 'J',
  Ԛ: 'Q', Ԝ: 'W', Ӏ: 'I', Һ: 'H', Ү: 'Y',
  а: 'a', в: 'b', е: 'e', к: 'k', м: 'm', н: 'h', о: 'o', п: 'n', р: 'p', с: 'c', т: 't', у: 'y', х: 'x', ь: 'b', ѕ: 's',
  і: 'i', ј: 'j', һ: 'h', ԁ: 'd', ԛ: 'q', ԝ: 'w', ӏ: 'l', ү: 'y',
  // Greek
  Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X', Ϲ: 'C',
  α: 'a', γ: 'y', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', ς: 'c', υ: 'u', χ: 'x', ω: 'w', ϲ: 'c', ϳ: 'j',
  // Latin look-alikes
  ı: 'i', ȷ: 'j', ɡ: 'g', ɑ: 'a', ß: 'ss',
};

/**
 * The confusable skeleton of a name: NFKC, common Cyrillic / Greek homoglyphs mapped to the Latin
 * letter they look like, casefolded, without invisible or format characters (a zero-width joiner
 * inserted makes no new name), spaces collapsed. Two names with one skeleton look the same.
 */
export function nameSkeleton(name: string): string {
  const mapped = [...name.normalize('NFKC')].map((c) => HOMOGLYPHS[c] ?? c).join('');
  return mapped
    .toLowerCase()
    .normalize('NFKC')
    .replace(/[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu, '')
    .replace(/[\s\u2800]+/gu, ' ')
    .trim();
}
