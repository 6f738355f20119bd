//! [`Table`]: an ordered map that costs what it holds. A connection keeps
//! one for its channels and one per channel for the members it knows, and
//! most of those hold one to a few entries (a user in one or two channels;
//! in a large channel only ourselves). A `BTreeMap` allocates a node of
//! eleven entries for its first one — with a channel's ~150 bytes that is
//! 2 KiB per idle connection, most of it empty. A `Table` keeps a sorted
//! `Vec` of exactly its entries while it is small, and a `BTreeMap` once it
//! holds more than [`SMALL`] (a channel of thousands, with `--large-room 0`,
//! must not pay a shift of every entry for each join). Both iterate in key
//! order, as the `BTreeMap` it replaces did.

use std::borrow::Borrow;
use std::collections::{btree_map, BTreeMap};

/// Entries kept in the sorted `Vec`; one more moves them to a `BTreeMap`,
/// and falling to half of it moves them back.
const SMALL: usize = 32;

/// An ordered map, small or large (module docs).
#[derive(Debug, Clone)]
pub(super) enum Table<K, V> {
    /// Sorted by key, keys unique, capacity its length.
    Small(Vec<(K, V)>),
    Large(BTreeMap<K, V>),
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table::Small(Vec::new())
    }
}

impl<K: Ord, V> Table<K, V> {
    pub fn len(&self) -> usize {
        match self {
            Table::Small(v) => v.len(),
            Table::Large(m) => m.len(),
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            Table::Small(v) => find(v, key).ok().map(|i| &v[i].1),
            Table::Large(m) => m.get(key),
        }
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            Table::Small(v) => find(v, key).ok().map(|i| &mut v[i].1),
            Table::Large(m) => m.get_mut(key),
        }
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; the value it had, if any (as `BTreeMap`).
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self {
            Table::Small(v) => match find(v, &key) {
                Ok(i) => Some(std::mem::replace(&mut v[i].1, value)),
                Err(_) if v.len() == SMALL => {
                    let mut m: BTreeMap<K, V> = std::mem::take(v).into_iter().collect();
                    m.insert(key, value);
                    *self = Table::Large(m);
                    None
                }
                Err(i) => {
                    // Exactly: most tables never grow past a few entries.
                    v.reserve_exact(1);
                    v.insert(i, (key, value));
                    None
                }
            },
            Table::Large(m) => m.insert(key, value),
        }
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            Table::Small(v) => {
                let i = find(v, key).ok()?;
                let (_, value) = v.remove(i);
                if v.len() * 2 <= v.capacity() {
                    v.shrink_to_fit();
                }
                Some(value)
            }
            Table::Large(m) => {
                let value = m.remove(key)?;
                if m.len() <= SMALL / 2 {
                    let v: Vec<(K, V)> = std::mem::take(m).into_iter().collect();
                    *self = Table::Small(v);
                }
                Some(value)
            }
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        match self {
            Table::Small(v) => Iter::Small(v.iter()),
            Table::Large(m) => Iter::Large(m.iter()),
        }
    }

    /// Values in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Values in key order, to change.
    pub fn values_mut(&mut self) -> ValuesMut<'_, K, V> {
        match self {
            Table::Small(v) => ValuesMut::Small(v.iter_mut()),
            Table::Large(m) => ValuesMut::Large(m.values_mut()),
        }
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for Table<K, V> {
    /// As `BTreeMap`'s: a key given twice keeps its last value.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        let mut table = Table::default();
        for (k, v) in items {
            table.insert(k, v);
        }
        if let Table::Small(v) = &mut table {
            v.shrink_to_fit();
        }
        table
    }
}

fn find<K: Borrow<Q>, Q: Ord + ?Sized, V>(v: &[(K, V)], key: &Q) -> Result<usize, usize> {
    v.binary_search_by(|(k, _)| k.borrow().cmp(key))
}

/// [`Table::iter`].
pub(super) enum Iter<'a, K, V> {
    Small(std::slice::Iter<'a, (K, V)>),
    Large(btree_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(i) => i.next().map(|(k, v)| (k, v)),
            Iter::Large(i) => i.next(),
        }
    }
}

/// [`Table::values_mut`].
pub(super) enum ValuesMut<'a, K, V> {
    Small(std::slice::IterMut<'a, (K, V)>),
    Large(btree_map::ValuesMut<'a, K, V>),
}

impl<'a, K, V> Iterator for ValuesMut<'a, K, V> {
    type Item = &'a mut V;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ValuesMut::Small(i) => i.next().map(|(_, v)| v),
            ValuesMut::Large(i) => i.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small<K, V>(t: &Table<K, V>) -> bool {
        matches!(t, Table::Small(_))
    }

    #[test]
    fn keeps_key_order_and_exact_capacity_while_small() {
        let mut t = Table::default();
        assert_eq!(t.insert("leo", 1), None);
        assert_eq!(t.insert("ann", 2), None);
        assert_eq!(t.insert("max", 3), None);
        assert_eq!(t.insert("ann", 4), Some(2));
        let keys: Vec<_> = t.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["ann", "leo", "max"]);
        assert_eq!(t.values().copied().collect::<Vec<_>>(), [4, 1, 3]);
        let Table::Small(v) = &t else { panic!("small") };
        assert_eq!(v.capacity(), 3, "no room kept for entries to come");
        assert_eq!(t.remove("leo"), Some(1));
        assert_eq!(t.remove("leo"), None);
        assert!(!t.contains_key("leo") && t.contains_key("max"));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn grows_into_a_tree_and_back_with_the_same_contents() {
        let mut t = Table::default();
        let mut model = BTreeMap::new();
        // A fixed shuffle of 0..100: joins out of order, then leaves.
        let keys: Vec<u32> = (0..100).map(|i| (i * 37) % 100).collect();
        for &k in &keys {
            assert_eq!(t.insert(k, k * 10), model.insert(k, k * 10));
            assert_eq!(t.len(), model.len());
        }
        assert!(!small(&t), "{} entries stay small", t.len());
        assert!(t.iter().eq(model.iter()));
        for &k in keys.iter().rev().take(90) {
            assert_eq!(t.remove(&k), model.remove(&k));
            assert!(t.iter().eq(model.iter()));
        }
        assert!(small(&t), "10 entries stay in a tree");
        for v in t.values_mut() {
            *v += 1;
        }
        for v in model.values_mut() {
            *v += 1;
        }
        assert!(t.iter().eq(model.iter()));
        assert_eq!(t.get(&keys[0]), model.get(&keys[0]));
    }

    #[test]
    fn collects_as_a_btree_map_does() {
        let items = [("b", 1), ("a", 2), ("b", 3)];
        let t: Table<_, _> = items.into_iter().collect();
        let m: BTreeMap<_, _> = items.into_iter().collect();
        assert!(t.iter().eq(m.iter()));
    }
}
