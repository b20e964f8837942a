//! The lake catalog over a local directory.
//!
//! ```text
//! <root>/
//!   tpch/                 schema
//!     lineitem/           table (directory)
//!       part-0.parquet    data files, all of one format
//! ```
//! Directories whose names are not valid identifiers (see [`crate::names`])
//! and hidden entries (starting with `.`) are not listed. A table's format is
//! the format of its data files; a directory without data files is not a table.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{names, CatalogError, FileFormat, Result, TableEntry};

/// A lake catalog rooted at a directory.
#[derive(Debug, Clone)]
pub struct LakeCatalog {
    name: String,
    root: PathBuf,
}

impl LakeCatalog {
    /// A catalog called `name` over the directory `root` (which must exist).
    pub fn new(name: impl Into<String>, root: impl Into<PathBuf>) -> Result<Self> {
        let name = name.into();
        names::validate(&name)?;
        Ok(Self {
            name,
            root: root.into(),
        })
    }

    /// The catalog's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory the catalog lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of a schema (whether or not it exists yet).
    pub fn schema_dir(&self, schema: &str) -> Result<PathBuf> {
        names::validate(schema)?;
        Ok(self.root.join(schema))
    }

    /// Directory of a table (whether or not it exists yet).
    pub fn table_dir(&self, schema: &str, table: &str) -> Result<PathBuf> {
        names::validate(table)?;
        Ok(self.schema_dir(schema)?.join(table))
    }

    /// Schema names, sorted.
    pub fn schema_names(&self) -> Result<Vec<String>> {
        subdirectories(&self.root)
    }

    /// Whether the schema exists.
    pub fn schema_exists(&self, schema: &str) -> bool {
        names::validate(schema).is_ok() && self.root.join(schema).is_dir()
    }

    /// Table names of a schema, sorted; empty when the schema does not exist.
    pub fn table_names(&self, schema: &str) -> Result<Vec<String>> {
        if !self.schema_exists(schema) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for name in subdirectories(&self.root.join(schema))? {
            if self.table(schema, &name)?.is_some() {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// One table, or `None` when there is no such table.
    pub fn table(&self, schema: &str, table: &str) -> Result<Option<TableEntry>> {
        if names::validate(schema).is_err() || names::validate(table).is_err() {
            return Ok(None);
        }
        let location = self.root.join(schema).join(table);
        if !location.is_dir() {
            return Ok(None);
        }
        let qualified = || format!("{}.{schema}.{table}", self.name);
        let mut format: Option<FileFormat> = None;
        for file in data_files(&location)? {
            let Some(found) = file
                .extension()
                .and_then(|e| e.to_str())
                .and_then(FileFormat::from_extension)
            else {
                continue;
            };
            match format {
                None => format = Some(found),
                Some(first) if first != found => {
                    return Err(CatalogError::MixedFormats {
                        table: qualified(),
                        location,
                        first,
                        second: found,
                    })
                }
                Some(_) => {}
            }
        }
        Ok(format.map(|format| TableEntry {
            catalog: self.name.clone(),
            schema: schema.to_owned(),
            name: table.to_owned(),
            location,
            format,
        }))
    }
}

fn subdirectories(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(CatalogError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| CatalogError::io(dir, e))?;
        let is_dir = entry
            .file_type()
            .map_err(|e| CatalogError::io(entry.path(), e))?
            .is_dir();
        if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
            if names::validate(name).is_ok() {
                out.push(name.to_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Data files under a table directory, recursively (hive-style partition
/// folders such as `dt=2026-01-01/` are walked), skipping hidden entries.
pub fn data_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| CatalogError::io(&dir, e))? {
            let entry = entry.map_err(|e| CatalogError::io(&dir, e))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(['.', '_']) {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|e| CatalogError::io(entry.path(), e))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake() -> (tempfile::TempDir, LakeCatalog) {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeCatalog::new("lake", dir.path()).unwrap();
        (dir, lake)
    }

    #[test]
    fn lists_schemas_and_tables_with_data_files_only() {
        let (dir, lake) = lake();
        fs::create_dir_all(dir.path().join("tpch/orders")).unwrap();
        fs::write(dir.path().join("tpch/orders/part-0.parquet"), b"x").unwrap();
        fs::create_dir_all(dir.path().join("tpch/empty")).unwrap();
        fs::create_dir_all(dir.path().join("raw/events/dt=2026-01-01")).unwrap();
        fs::write(dir.path().join("raw/events/dt=2026-01-01/a.csv"), b"x").unwrap();
        fs::create_dir_all(dir.path().join("Not-A-Name")).unwrap();

        assert_eq!(lake.schema_names().unwrap(), vec!["raw", "tpch"]);
        assert_eq!(lake.table_names("tpch").unwrap(), vec!["orders"]);
        let events = lake.table("raw", "events").unwrap().unwrap();
        assert_eq!(events.format, FileFormat::Csv);
        assert_eq!(events.qualified_name(), "lake.raw.events");
        assert!(lake.table("tpch", "empty").unwrap().is_none());
        assert!(lake.table("tpch", "../raw").unwrap().is_none());
        assert!(lake.table_names("missing").unwrap().is_empty());
    }

    #[test]
    fn mixed_formats_are_an_error_naming_the_table() {
        let (dir, lake) = lake();
        fs::create_dir_all(dir.path().join("s/t")).unwrap();
        fs::write(dir.path().join("s/t/a.csv"), b"x").unwrap();
        fs::write(dir.path().join("s/t/b.parquet"), b"x").unwrap();
        let err = lake.table("s", "t").unwrap_err().to_string();
        assert!(err.contains("lake.s.t"), "{err}");
    }
}
