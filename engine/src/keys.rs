//! The configured TSIG keys (`[[key]]` tables), resolved and checked.
//!
//! A key has a name, an algorithm (hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384,
//! hmac-sha512) and exactly one of `secret` (base64) or `secret_file` (a file holding the base64
//! secret). Every error names the key and never shows the secret; `Debug` of a key shows its
//! name and algorithm only. Key names compare case-insensitively; a name defined twice is an
//! error. The signing and verifying is `xfr_proto::tsig`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xfr_proto::tsig::{text_to_wire, Key, KeyError};

use crate::config::KeyFileConfig;

/// Every configured key.
#[derive(Debug, Default)]
pub struct Keys(Vec<Key>);

impl Keys {
    /// Resolves the `[[key]]` tables; relative `secret_file` paths are relative to `base`.
    pub fn resolve(tables: &[KeyFileConfig], base: &Path) -> Result<Keys> {
        let mut keys: Vec<Key> = Vec::with_capacity(tables.len());
        for t in tables {
            let key = resolve_one(t, base).with_context(|| format!("key `{}`", t.name))?;
            if keys.iter().any(|k| k.name() == key.name()) {
                bail!("key `{}` is defined twice", t.name);
            }
            keys.push(key);
        }
        Ok(Keys(keys))
    }

    pub fn from_keys(keys: Vec<Key>) -> Keys {
        Keys(keys)
    }

    /// The key named `name` (lowercased wire form, as `tsig::TsigRecord` holds it).
    pub fn find(&self, name: &[u8]) -> Option<&Key> {
        self.0.iter().find(|k| k.name() == name)
    }

    /// The key named `name` in presentation format (`xfr-key.`, any case).
    pub fn find_by_text(&self, name: &str) -> Option<&Key> {
        let mut wire = text_to_wire(name)?;
        wire.make_ascii_lowercase();
        self.find(&wire)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

fn resolve_one(t: &KeyFileConfig, base: &Path) -> Result<Key> {
    let secret = match (&t.secret, &t.secret_file) {
        (Some(s), None) => s.0.clone(),
        (None, Some(f)) => {
            let path = base.join(f);
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading secret_file {}", path.display()))?
        }
        (Some(_), Some(_)) => bail!("has both secret and secret_file: give one"),
        (None, None) => bail!("has neither secret nor secret_file: give one"),
    };
    // KeyError never holds the secret.
    Key::from_text(&t.name, &t.algorithm, &secret).map_err(|e: KeyError| anyhow::anyhow!(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn table(name: &str, alg: &str, secret: Option<&str>, file: Option<&str>) -> KeyFileConfig {
        KeyFileConfig {
            name: name.into(),
            algorithm: alg.into(),
            secret: secret.map(|s| Secret(s.into())),
            secret_file: file.map(Into::into),
        }
    }

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";

    #[test]
    fn keys_resolve_and_errors_name_the_key_not_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.secret"), format!("  {SECRET}\n")).unwrap();
        let keys = Keys::resolve(
            &[
                table("Xfr-Key.", "hmac-sha256", Some(SECRET), None),
                table("other", "HMAC-SHA1", None, Some("k.secret")),
            ],
            dir.path(),
        )
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.find(b"\x07xfr-key\x00").is_some());
        assert!(keys.find_by_text("XFR-KEY").is_some());
        assert!(keys.find_by_text("other.").is_some());
        assert!(keys.find_by_text("missing.").is_none());

        let bad = [
            (
                table("k1.", "hmac-md5", Some(SECRET), None),
                "unknown TSIG algorithm",
            ),
            (
                table("k2.", "hmac-sha256", Some("not base64!"), None),
                "base64",
            ),
            (table("k3.", "hmac-sha256", Some(SECRET), Some("f")), "both"),
            (table("k4.", "hmac-sha256", None, None), "neither"),
            (
                table("k5.", "hmac-sha256", None, Some("absent.secret")),
                "secret_file",
            ),
        ];
        for (t, want) in bad {
            let e = format!(
                "{:#}",
                Keys::resolve(std::slice::from_ref(&t), dir.path()).unwrap_err()
            );
            assert!(e.contains(&t.name) && e.contains(want), "{e}");
            assert!(!e.contains(SECRET), "{e}");
        }
        let e = Keys::resolve(
            &[
                table("dup.", "hmac-sha256", Some(SECRET), None),
                table("DUP", "hmac-sha512", Some(SECRET), None),
            ],
            dir.path(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        assert!(!format!("{keys:?}").contains(SECRET));
    }
}
