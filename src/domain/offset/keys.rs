//! Table-storage keys for a blob's offset entity.
//!
//! Blob paths contain `/` and can exceed 1 KiB, both forbidden in PartitionKey/RowKey, so keys
//! are derived from a hash of the blob name; the full name is stored as a property. The first
//! two hex digits form the partition key, spreading load over 256 partitions (Table storage
//! targets 2,000 entities/s per partition).
use sha2::{Digest, Sha256};

use crate::domain::blob_name::BlobName;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityKeys {
    pub partition_key: String,
    pub row_key: String,
}

pub fn entity_keys(blob: &BlobName) -> EntityKeys {
    let row_key = hex(&Sha256::digest(blob.as_str().as_bytes()));
    EntityKeys { partition_key: row_key[..2].to_string(), row_key }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_legal_table_keys_and_stable() {
        let long = format!("acct/insights-logs-flowlogflowevent/{}/PT1H.json", "x/".repeat(800));
        let k = entity_keys(&BlobName::from(long.as_str()));
        assert_eq!(k.row_key.len(), 64);
        assert_eq!(&k.row_key[..2], k.partition_key);
        assert!(k.row_key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(k, entity_keys(&BlobName::from(long.as_str())));
        assert_ne!(k, entity_keys(&BlobName::from("other")));
        // SHA-256 of "abc", a published test vector: keys must not change across releases.
        assert_eq!(
            entity_keys(&BlobName::from("abc")).row_key,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
