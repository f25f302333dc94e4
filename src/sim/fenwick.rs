//! A Fenwick (binary indexed) tree of sums over priority ranks: "how much work queued on this
//! resource is at least as urgent as rank `u`" in O(log n).

#[derive(Clone, Debug)]
pub(super) struct Fenwick {
    tree: Vec<f64>,
    total: f64,
}

impl Fenwick {
    pub(super) fn new(n: usize) -> Fenwick {
        Fenwick {
            tree: vec![0.0; n + 1],
            total: 0.0,
        }
    }

    /// Adds `v` at rank `i`.
    pub(super) fn add(&mut self, i: usize, v: f64) {
        self.total += v;
        let mut i = i + 1;
        while i < self.tree.len() {
            self.tree[i] += v;
            i += i & i.wrapping_neg();
        }
    }

    /// Sum over ranks `< i`.
    fn prefix(&self, i: usize) -> f64 {
        let mut s = 0.0;
        let mut i = i.min(self.tree.len() - 1);
        while i > 0 {
            s += self.tree[i];
            i &= i - 1;
        }
        s
    }

    /// Sum over ranks `>= i` (never negative: removals may leave rounding residue).
    pub(super) fn at_least(&self, i: usize) -> f64 {
        (self.total - self.prefix(i)).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Fenwick;

    #[test]
    fn sums_above_a_rank() {
        let mut f = Fenwick::new(10);
        f.add(3, 1.0);
        f.add(7, 2.0);
        f.add(9, 4.0);
        assert_eq!(f.at_least(0), 7.0);
        assert_eq!(f.at_least(4), 6.0);
        assert_eq!(f.at_least(8), 4.0);
        assert_eq!(f.at_least(10), 0.0);
        f.add(7, -2.0);
        assert_eq!(f.at_least(4), 4.0);
    }
}
