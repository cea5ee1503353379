//! Which tokens the KV cache holds, and how much of a new prompt it can serve.
//!
//! Full-attention layers keep position p in slot p, so their cache holds every
//! position written since the last truncation. Sliding-window layers keep a
//! ring of `slots` (window + max_batch, `model::State`): position p goes to
//! slot p % slots, so writing p evicts p - slots. After the writes of a
//! sequence of length n the ring holds positions [n - slots, n) and nothing
//! older, whatever came before; an earlier prompt's prefix is gone from it.
//!
//! Recurrent layers (short convolutions, Gated DeltaNet) keep one state: that
//! after the last token written. It cannot be rewound, so a prompt reuses the
//! cache only when it extends every cached token; otherwise it runs from
//! position 0, where the recurrent kernels start from a zero state. (The
//! state at the end of the last turn is the snapshot a follow-up question
//! continues from, as llama.cpp's checkpoints allow.)

use crate::model::Ring;

/// The tokens whose keys and values are in the cache, at positions 0.., and
/// the oldest position every ring still holds.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    tokens: Vec<u32>,
    ring: Option<Ring>,
    /// Rings hold positions [oldest, tokens.len()); 0 when there is no ring.
    oldest: usize,
    /// Some layer keeps a recurrent state (see the module doc).
    recurrent: bool,
}

impl KvCache {
    pub fn new(ring: Option<Ring>) -> Self {
        Self { tokens: Vec::new(), ring, oldest: 0, recurrent: false }
    }

    /// A cache whose model has recurrent layers: only a prompt that extends
    /// every cached token reuses it.
    pub fn recurrent(mut self, recurrent: bool) -> Self {
        self.recurrent = recurrent;
        self
    }

    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// How many leading tokens of `prompt` can stay in the cache: the prefix
    /// it shares with the cached tokens, less the last prompt token (it is
    /// always run, for its logits), and none at all when a ring no longer
    /// holds the positions the first token to run attends to
    /// (p - window, p) — then the whole prompt is prefilled again.
    pub fn reusable(&self, prompt: &[u32]) -> usize {
        let common = self.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        let keep = common.min(prompt.len().saturating_sub(1));
        if self.recurrent && keep != self.tokens.len() {
            return 0;
        }
        match self.ring {
            Some(r) if keep > 0 && (keep + 1).saturating_sub(r.window) < self.oldest => 0,
            _ => keep,
        }
    }

    /// Keeps the first `n` tokens: positions from n on will be written again.
    pub fn truncate(&mut self, n: usize) {
        self.tokens.truncate(n);
        self.oldest = self.oldest.min(n);
    }

    /// `ids` were written at the next positions; each evicts from the rings
    /// the position `slots` before it.
    pub fn extend(&mut self, ids: &[u32]) {
        self.tokens.extend_from_slice(ids);
        if let Some(r) = self.ring {
            self.oldest = self.oldest.max(self.tokens.len().saturating_sub(r.slots));
        }
    }

    /// Forgets everything (after a failed step, whose writes are unknown).
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.oldest = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gemma 3 270M with max_batch 64: window 512, a ring of 576 slots.
    const GEMMA: Ring = Ring { window: 512, slots: 576 };

    fn seq(n: u32, salt: u32) -> Vec<u32> {
        (0..n).map(|i| i * 31 + salt).collect()
    }

    #[test]
    fn full_attention_reuses_the_common_prefix() {
        let mut kv = KvCache::new(None);
        kv.extend(&seq(700, 0));
        let mut prompt = seq(20, 0);
        prompt.push(9);
        assert_eq!(kv.reusable(&prompt), 20);
        // The whole prompt cached: the last token runs again.
        assert_eq!(kv.reusable(&seq(20, 0)), 19);
        assert_eq!(kv.reusable(&[5]), 0);
    }

    #[test]
    fn a_wrapped_ring_does_not_serve_an_old_prefix() {
        let mut kv = KvCache::new(Some(GEMMA));
        let long = seq(600, 0);
        kv.extend(&long[..64]);
        // 600 positions written: the ring holds [24, 600).
        for c in long[64..].chunks(64) {
            kv.extend(c);
        }
        let mut prompt = long[..20].to_vec();
        prompt.push(9);
        assert_eq!(kv.reusable(&prompt), 0, "positions 0..20 were overwritten by 576..596");
        // A prefix whose window starts at or after position 24 is still there:
        // token 535 attends to [24, 535].
        let mut prompt = long[..535].to_vec();
        prompt.push(9);
        assert_eq!(kv.reusable(&prompt), 535);
        let mut prompt = long[..534].to_vec();
        prompt.push(9);
        assert_eq!(kv.reusable(&prompt), 0, "token 534 needs position 23");
    }

    #[test]
    fn a_ring_that_never_wrapped_serves_any_prefix() {
        let mut kv = KvCache::new(Some(GEMMA));
        kv.extend(&seq(576, 0));
        let mut prompt = seq(20, 0);
        prompt.push(9);
        assert_eq!(kv.reusable(&prompt), 20);
    }

    /// Truncating and writing again: the oldest position held moves only as
    /// far as the new writes push it.
    #[test]
    fn truncate_then_extend_tracks_the_ring() {
        let mut kv = KvCache::new(Some(GEMMA));
        kv.extend(&seq(500, 0));
        kv.truncate(100);
        // Positions 100..700 written anew: the ring holds [124, 700).
        kv.extend(&seq(600, 1));
        let mut prompt = kv.tokens()[..100].to_vec();
        prompt.push(9);
        assert_eq!(kv.reusable(&prompt), 0);
        let mut prompt = kv.tokens()[..636].to_vec();
        prompt.push(9);
        assert_eq!(kv.reusable(&prompt), 636, "token 636 attends to [125, 636]");
        // After a short edit near the end, nothing older was evicted.
        kv.truncate(690);
        kv.extend(&[1, 2, 3]);
        let mut prompt = kv.tokens()[..650].to_vec();
        prompt.push(9);
        assert_eq!(kv.reusable(&prompt), 650);
        kv.clear();
        assert_eq!((kv.len(), kv.reusable(&[1, 2])), (0, 0));
    }

    /// A recurrent state is the state after every cached token: a prompt
    /// that extends them continues from it; any other starts over.
    #[test]
    fn recurrent_state_is_reused_only_when_extended() {
        let mut kv = KvCache::new(None).recurrent(true);
        kv.extend(&seq(20, 0));
        assert_eq!(kv.reusable(&seq(30, 0)), 20, "a follow-up turn continues from the state");
        assert_eq!(kv.reusable(&seq(20, 0)), 0, "the same prompt again: the last token cannot be unrun");
        let mut other = seq(30, 0);
        other[10] = 999;
        assert_eq!(kv.reusable(&other), 0, "a prompt that differs inside the cached part starts over");
        assert_eq!(kv.reusable(&seq(15, 0)), 0);
    }
}
