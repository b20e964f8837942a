//! Which files a user may register as a table of their own.
//!
//! The creator of a table owns it, and no row filter applies to an owner:
//! a user who may create tables could otherwise register, as an external
//! table, the folder of a table that filters or masks what they see, or a
//! folder holding one (listing is recursive), or any file the server can
//! read (the audit trail, a key). So a user who is not a superuser may
//! register a location only if it is inside the lake and every table whose
//! files are inside it, or that it is inside of, is one they may read
//! whole ([`Authorizer::reads_whole`]). The location is compared in its
//! canonical form (`weir_catalog::LakeLocation::canonical`: one spelling,
//! links followed), segment by segment.

use crate::authorizer::{Authorizer, Subject};
use crate::{PolicyError, Result};

/// A table and where its files are.
#[derive(Debug, Clone)]
pub struct TableFiles {
    /// Its object name (`lake.s.t`).
    pub object: String,
    /// Its location's segments below the lake root (`None`: outside it).
    pub path: Option<Vec<String>>,
}

/// May `subject` register the location `written` (as the statement spelt
/// it), whose canonical form lies at `path` below the lake root (`None`:
/// outside the lake), given every table of the lake and its files?
pub fn may_register(
    auth: &Authorizer,
    subject: &Subject,
    written: &str,
    path: Option<&[String]>,
    tables: &[TableFiles],
) -> Result<()> {
    if auth.is_superuser(subject) {
        return Ok(());
    }
    let refuse = || PolicyError::Location(written.to_owned());
    let path = path.ok_or_else(refuse)?;
    for table in tables {
        let Some(files) = table.path.as_deref() else {
            continue;
        };
        let overlaps = files.starts_with(path) || path.starts_with(files);
        if overlaps && !auth.reads_whole(subject, &table.object) {
            return Err(refuse());
        }
    }
    Ok(())
}
