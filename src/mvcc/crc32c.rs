//! CRC-32C, the checksum etcd's HashKV uses (Go's `crc32.Castagnoli`); a
//! table-driven implementation small enough to keep here.

/// CRC-32 with the Castagnoli polynomial (Go's `crc32.Castagnoli`).
pub(crate) struct Crc32c(u32);

impl Default for Crc32c {
    fn default() -> Self {
        Crc32c(!0)
    }
}

impl Crc32c {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0x82f6_3b78 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };

    /// Continues a checksum whose value so far is `prev` (Go's
    /// `crc32.Update(prev, …)`; etcd's WAL chains its records so).
    pub(crate) fn resume(prev: u32) -> Self {
        Crc32c(!prev)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = Self::TABLE[((self.0 ^ u32::from(b)) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }

    pub(crate) fn finalize(&self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value() {
        // The standard check value of CRC-32C.
        let mut c = Crc32c::default();
        c.update(b"123456789");
        assert_eq!(c.finalize(), 0xe306_9283);
    }
}
