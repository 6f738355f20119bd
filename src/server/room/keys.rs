//! The rooms one member is in, by key: a sorted vector, not a `BTreeSet`.
//!
//! Every member has one, almost always holding one or two keys (the lobby
//! and maybe a room), and at most [`crate::protocol::MAX_ROOMS_PER_MEMBER`].
//! A `BTreeSet` node is about 300 bytes for that; this is one allocation
//! the size of the keys.

/// A small sorted set of room keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomKeys(Vec<String>);

impl RoomKeys {
    /// Whether `key` is in the set.
    pub fn contains(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Adds `key`; false if it was there already.
    pub fn insert(&mut self, key: String) -> bool {
        match self.find(&key) {
            Ok(_) => false,
            Err(at) => {
                // Room for exactly what is held: most members hold one key
                // for their whole connection.
                self.0.reserve_exact(1);
                self.0.insert(at, key);
                true
            }
        }
    }

    /// Removes `key`; false if it was not there.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.find(key) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    /// The keys held here and not in `other`, in order.
    pub fn difference<'a>(&'a self, other: &'a RoomKeys) -> impl Iterator<Item = &'a String> {
        self.0.iter().filter(move |key| !other.contains(key))
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|held| held.as_str().cmp(key))
    }
}

impl<'a> IntoIterator for &'a RoomKeys {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for RoomKeys {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<String> for RoomKeys {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut keys: Vec<String> = iter.into_iter().collect();
        keys.sort();
        keys.dedup();
        keys.shrink_to_fit();
        RoomKeys(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_sorted_set() {
        let mut keys = RoomKeys::default();
        assert!(keys.is_empty());
        assert!(keys.insert("lobby".into()));
        assert!(keys.insert("a".into()));
        assert!(keys.insert("z".into()));
        assert!(!keys.insert("a".into()), "no duplicates");
        assert_eq!(keys.len(), 3);
        assert_eq!(
            keys.iter().map(String::as_str).collect::<Vec<_>>(),
            ["a", "lobby", "z"]
        );
        assert!(keys.contains("lobby"));
        assert!(keys.remove("lobby"));
        assert!(!keys.remove("lobby"));
        assert!(!keys.contains("lobby"));
        assert_eq!(keys.len(), 2);
        let other: RoomKeys = ["z".to_string(), "b".into(), "z".into()]
            .into_iter()
            .collect();
        assert_eq!(other.len(), 2, "collected sorted and deduplicated");
        assert_eq!(keys.difference(&other).collect::<Vec<_>>(), ["a"]);
    }
}
