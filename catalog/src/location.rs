//! Where the lake lives: a local directory or an S3 bucket and prefix.
//!
//! Every file Weir knows about (Iceberg metadata, data files, the raw files
//! of external tables) is addressed by a URI under the lake location:
//! `file:///var/lib/weir/lake/sales/orders/...` or
//! `s3://bucket/prefix/sales/orders/...`. [`LakeLocation::object_path`]
//! turns such a URI into the key of the lake's object store.

use std::path::{Path, PathBuf};

use object_store::path::Path as ObjectPath;

use crate::{CatalogError, Result};

/// The root of the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    /// A local directory (absolute).
    Local(PathBuf),
    /// An S3 (or S3-compatible) bucket, with an optional key prefix
    /// (no leading or trailing `/`).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, possibly empty.
        prefix: String,
    },
}

impl LakeLocation {
    /// Parse `s3://bucket/prefix`, `file:///abs/dir` or a directory path
    /// (made absolute against the current directory).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("s3://").or(text.strip_prefix("s3a://")) {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(CatalogError::Config(format!(
                    "lake location {text:?} names no bucket (expected s3://bucket/prefix)"
                )));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            if scheme != "file" {
                return Err(CatalogError::Config(format!(
                    "lake location {text:?}: scheme {scheme}:// is not supported (use s3:// or a directory)"
                )));
            }
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        if path.is_empty() {
            return Err(CatalogError::Config("lake location is empty".into()));
        }
        let path = Path::new(path);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| CatalogError::io(".", e))?
                .join(path)
        };
        Ok(Self::Local(normalize(&absolute)))
    }

    /// The lake root as a URI, without a trailing `/`.
    pub fn uri(&self) -> String {
        match self {
            Self::Local(dir) => format!("file://{}", dir.display())
                .trim_end_matches('/')
                .to_owned(),
            Self::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Self::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// URI of `relative` (a `/`-separated path) under the lake root.
    pub fn join(&self, relative: &str) -> String {
        format!("{}/{}", self.uri(), relative.trim_start_matches('/'))
    }

    /// The URI of the object store holding the lake: `file:///` or
    /// `s3://bucket`; DataFusion registers the store under this URL.
    pub fn store_uri(&self) -> String {
        match self {
            Self::Local(_) => "file:///".into(),
            Self::S3 { bucket, .. } => format!("s3://{bucket}"),
        }
    }

    /// Whether `uri` lies on this lake's object store.
    pub fn contains(&self, uri: &str) -> bool {
        self.object_path(uri).is_ok()
    }

    /// The object-store key of `uri`, which must be on this lake's store
    /// (`file:` URIs and plain absolute paths for a local lake, `s3://` URIs
    /// in the lake's bucket otherwise).
    pub fn object_path(&self, uri: &str) -> Result<ObjectPath> {
        let outside = || {
            CatalogError::Config(format!(
                "{uri:?} is not on the lake's storage ({})",
                self.store_uri()
            ))
        };
        match self {
            Self::Local(_) => {
                let path = uri
                    .strip_prefix("file://")
                    .or_else(|| uri.strip_prefix("file:"))
                    .unwrap_or(uri);
                if !path.starts_with('/') || path.contains("://") {
                    return Err(outside());
                }
                ObjectPath::parse(
                    normalize(Path::new(path))
                        .to_string_lossy()
                        .trim_start_matches('/'),
                )
                .map_err(|e| CatalogError::Config(format!("bad path {uri:?}: {e}")))
            }
            Self::S3 { bucket, .. } => {
                let rest = uri
                    .strip_prefix("s3://")
                    .or_else(|| uri.strip_prefix("s3a://"))
                    .ok_or_else(outside)?;
                let (b, key) = rest.split_once('/').unwrap_or((rest, ""));
                if b != bucket {
                    return Err(outside());
                }
                ObjectPath::parse(key.trim_matches('/'))
                    .map_err(|e| CatalogError::Config(format!("bad path {uri:?}: {e}")))
            }
        }
    }
}

/// Resolve `.` and `..` lexically (the path need not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

impl std::fmt::Display for LakeLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_and_local_locations() {
        let s3 = LakeLocation::parse("s3://bucket/a/b/").unwrap();
        assert_eq!(s3.uri(), "s3://bucket/a/b");
        assert_eq!(s3.join("x/y.parquet"), "s3://bucket/a/b/x/y.parquet");
        assert_eq!(
            s3.object_path("s3://bucket/a/b/x.parquet")
                .unwrap()
                .as_ref(),
            "a/b/x.parquet"
        );
        assert!(s3.object_path("s3://other/a").is_err());
        assert!(s3.object_path("/etc/passwd").is_err());
        assert!(LakeLocation::parse("s3:///x").is_err());
        assert!(LakeLocation::parse("gs://x").is_err());

        let local = LakeLocation::parse("/tmp/lake/").unwrap();
        assert_eq!(local.uri(), "file:///tmp/lake");
        assert_eq!(
            local
                .object_path("file:///tmp/lake/s/t/a.parquet")
                .unwrap()
                .as_ref(),
            "tmp/lake/s/t/a.parquet"
        );
        assert_eq!(
            local.object_path("/tmp/lake/../x").unwrap().as_ref(),
            "tmp/x"
        );
        assert!(local.object_path("s3://b/k").is_err());
    }
}
