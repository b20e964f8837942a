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

impl LakeLocation {
    /// The one URI a `LOCATION` names on the lake's storage, whatever its
    /// spelling: relative paths are under the lake root; `.`, `..` and
    /// empty segments are folded (a `..` above the storage's root is
    /// refused); percent-encoding is refused (an object store decodes it
    /// after any check, so `%2e%2e` would be `..`); on a local lake every
    /// symbolic link in the part of the path that exists is followed. A
    /// trailing `/` (a folder) is kept.
    pub fn canonical(&self, written: &str) -> Result<String> {
        let text = written.trim();
        let refuse = |why: &str| CatalogError::Config(format!("LOCATION {written:?}: {why}"));
        if text.contains('%') {
            return Err(refuse("percent-encoded names are not accepted"));
        }
        if text.contains('\0') {
            return Err(refuse("a NUL byte is not a name"));
        }
        let folder = text.ends_with('/') || text.is_empty() || text == ".";
        let (root, path) = if let Some(rest) = text
            .strip_prefix("s3://")
            .or_else(|| text.strip_prefix("s3a://"))
        {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(refuse("names no bucket"));
            }
            (format!("s3://{bucket}"), key.to_owned())
        } else if let Some(path) = text
            .strip_prefix("file://")
            .or_else(|| text.strip_prefix("file:"))
            .or_else(|| text.starts_with('/').then_some(text))
        {
            ("file://".to_owned(), path.to_owned())
        } else if text.contains("://") {
            return Err(refuse("not on the lake's storage"));
        } else {
            let mut uri = self.canonical(&format!("{}/{text}", self.uri()))?;
            if folder && !uri.ends_with('/') {
                uri.push('/');
            }
            return Ok(uri);
        };
        let mut segments: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if segments.pop().is_none() {
                        return Err(refuse("goes above the root of the storage"));
                    }
                }
                name => segments.push(name),
            }
        }
        let mut uri = if root == "file://" {
            let joined: PathBuf = std::iter::once("/")
                .chain(segments.iter().copied())
                .collect();
            format!("file://{}", follow_links(&joined).display())
        } else {
            format!("{root}/{}", segments.join("/"))
        };
        if folder && !uri.ends_with('/') {
            uri.push('/');
        }
        Ok(uri)
    }

    /// The segments of canonical `uri` below the lake root (none for the
    /// root itself), or `None` when it is not inside the lake.
    pub fn inside(&self, uri: &str) -> Option<Vec<String>> {
        let root = match self {
            Self::Local(dir) => format!("file://{}", follow_links(dir).display()),
            _ => self.uri(),
        };
        let root = root.trim_end_matches('/');
        let rest = uri.strip_prefix(root)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        Some(
            rest.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }
}

/// `path` with the symbolic links of its longest existing prefix followed
/// (the rest, which does not exist yet, is kept as written).
fn follow_links(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
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

    #[test]
    fn locations_have_one_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let lake_dir = dir.path().join("lake");
        std::fs::create_dir_all(lake_dir.join("tpch/customer")).unwrap();
        let real = std::fs::canonicalize(&lake_dir).unwrap();
        let lake = LakeLocation::Local(lake_dir.clone());
        let want = format!("file://{}/tpch/customer/", real.display());
        for spelling in [
            "tpch/customer/",
            "./tpch/customer/",
            "x/../tpch/customer/",
            "tpch//customer/",
            "tpch/./customer/",
        ] {
            assert_eq!(lake.canonical(spelling).unwrap(), want, "{spelling}");
            assert_eq!(
                lake.inside(&want),
                Some(vec!["tpch".to_owned(), "customer".to_owned()])
            );
        }
        let root = lake.canonical(".").unwrap();
        assert_eq!(lake.inside(&root), Some(vec![]));
        let up = lake.canonical("../secret.txt").unwrap();
        assert_eq!(
            up,
            format!("file://{}/secret.txt", real.parent().unwrap().display())
        );
        assert_eq!(lake.inside(&up), None);
        assert_eq!(lake.inside(&lake.canonical("/etc/passwd").unwrap()), None);
        assert!(lake.canonical("/../../..").is_err());
        assert!(lake.canonical("tpch%2Fcustomer/").is_err());
        assert!(lake.canonical("gs://b/k").is_err());
        // A sibling whose name starts with the lake's is not inside it.
        let sibling = format!("file://{}2/x", real.display());
        assert_eq!(lake.inside(&sibling), None);
        // A link inside the lake to a folder outside it is outside.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path(), lake_dir.join("out")).unwrap();
            let through = lake.canonical("out/secret.txt").unwrap();
            assert_eq!(lake.inside(&through), None, "{through}");
        }
        let s3 = LakeLocation::parse("s3://bucket/lake").unwrap();
        assert_eq!(s3.canonical("a/../b//c/").unwrap(), "s3://bucket/lake/b/c/");
        assert_eq!(
            s3.inside("s3://bucket/lake/b/c/"),
            Some(vec!["b".into(), "c".into()])
        );
        assert_eq!(s3.inside("s3://bucket/lakehouse/b"), None);
        assert_eq!(s3.inside(&s3.canonical("../x").unwrap()), None);
    }
}
