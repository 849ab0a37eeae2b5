//! The characters a pattern's match can be made of, read off the pattern itself.
//!
//! Why the stream redactor needs it: to emit text early it must know where a match that is
//! still growing could have started. A match consists only of characters its pattern can
//! consume, so once a character outside that set has arrived, no match starting at or before it
//! can reach past it, and everything up to it is decided. In prose that is usually the last
//! space: the hold-back shrinks from "the longest match" to "the current word".

use regex_syntax::hir::{Class, Hir, HirKind};

/// A set of characters: a bitmap for ASCII, sorted disjoint ranges for the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CharSet {
    ascii: u128,
    /// Non-ASCII ranges, sorted by start, disjoint.
    other: Vec<(char, char)>,
}

impl CharSet {
    /// Every character a match of `hir` can contain (a superset: assertions add nothing, and
    /// a byte class reaching past ASCII counts as all non-ASCII characters).
    pub(crate) fn of(hir: &Hir) -> CharSet {
        let mut set = CharSet::default();
        let mut todo = vec![hir];
        while let Some(node) = todo.pop() {
            match node.kind() {
                HirKind::Literal(literal) => match std::str::from_utf8(&literal.0) {
                    Ok(text) => text.chars().for_each(|c| set.add(c, c)),
                    Err(_) => set.add_all_non_ascii(),
                },
                HirKind::Class(Class::Unicode(class)) => {
                    for range in class.ranges() {
                        set.add(range.start(), range.end());
                    }
                }
                HirKind::Class(Class::Bytes(class)) => {
                    for range in class.ranges() {
                        set.add(char::from(range.start()), char::from(range.end().min(0x7f)));
                        if range.end() > 0x7f {
                            set.add_all_non_ascii();
                        }
                    }
                }
                _ => todo.extend(node.kind().subs()),
            }
        }
        set.normalize();
        set
    }

    pub(crate) fn contains(&self, c: char) -> bool {
        if c.is_ascii() {
            return self.ascii & (1u128 << (c as u32)) != 0;
        }
        let after = self.other.partition_point(|(start, _)| *start <= c);
        after > 0 && self.other.get(after - 1).is_some_and(|(_, end)| c <= *end)
    }

    fn add(&mut self, start: char, end: char) {
        let mut c = start as u32;
        while c <= (end as u32).min(0x7f) {
            self.ascii |= 1u128 << c;
            c += 1;
        }
        if (end as u32) > 0x7f {
            self.other.push((start.max('\u{80}'), end));
        }
    }

    fn add_all_non_ascii(&mut self) {
        self.other.push(('\u{80}', char::MAX));
    }

    fn normalize(&mut self) {
        self.other.sort_unstable();
        let mut merged: Vec<(char, char)> = Vec::with_capacity(self.other.len());
        for (start, end) in self.other.drain(..) {
            match merged.last_mut() {
                Some(last) if start as u32 <= (last.1 as u32).saturating_add(1) => {
                    last.1 = last.1.max(end);
                }
                _ => merged.push((start, end)),
            }
        }
        self.other = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pattern: &str) -> CharSet {
        CharSet::of(&regex_syntax::parse(pattern).unwrap())
    }

    #[test]
    fn guard_charset_collects_literals_and_classes() {
        let s = set(r"(?-u:\b)sk-[a-c0-9]{2}");
        for c in ['s', 'k', '-', 'a', 'b', 'c', '0', '9'] {
            assert!(s.contains(c), "{c}");
        }
        for c in ['d', ' ', 'é', '\n'] {
            assert!(!s.contains(c), "{c}");
        }
    }

    #[test]
    fn guard_charset_handles_unicode_ranges() {
        let s = set(r"[é-ë]x|\p{Greek}");
        assert!(s.contains('ê'));
        assert!(s.contains('λ'));
        assert!(!s.contains('ì'));
        assert!(!s.contains('y'));
        let any = set(r"(?s).");
        assert!(any.contains('\u{10FFFF}') && any.contains('\n'));
    }
}
