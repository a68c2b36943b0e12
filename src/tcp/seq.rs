//! Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).

use std::fmt;

/// A TCP sequence or acknowledgment number. Ordered only with wrapping arithmetic: `a` is
/// before `b` when `b - a` (mod 2^32) is in `1..2^31`. There is deliberately no `Ord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self + n` modulo 2^32.
    pub fn plus(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }

    /// Signed distance from `other` to `self`.
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self` is before `other` in sequence space.
    pub fn before(self, other: SeqNumber) -> bool {
        self.diff(other) < 0
    }

    /// `self` is at or after `other` in sequence space.
    pub fn at_or_after(self, other: SeqNumber) -> bool {
        self.diff(other) >= 0
    }

    /// The later of two numbers in sequence space.
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self.before(other) {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_survives_wrap() {
        let near_end = SeqNumber(u32::MAX - 5);
        let wrapped = near_end.plus(10);
        assert_eq!(wrapped, SeqNumber(4));
        assert!(near_end.before(wrapped));
        assert!(wrapped.at_or_after(near_end));
        assert!(!wrapped.before(near_end));
        assert_eq!(near_end.max(wrapped), wrapped);
        assert_eq!(wrapped.diff(near_end), 10);
    }

    #[test]
    fn equal_is_at_or_after_not_before() {
        let a = SeqNumber(7);
        assert!(a.at_or_after(a));
        assert!(!a.before(a));
    }
}
