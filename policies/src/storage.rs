//! Which files a user may register as a table of their own.
//!
//! The creator of a table owns it, and no row filter applies to an owner:
//! a user who may create tables could otherwise register, as an external
//! table, the folder of a table that filters or masks what they see, or a
//! folder holding one (listing is recursive), or any file the server can
//! read (the audit trail, a key). So a user who is not a superuser may
//! register a location only as a member of [`READ_SERVER_FILES`], and only
//! if it is inside the lake, holds and lies in no reserved path
//! ([`TableFiles::reserved`]), and every table whose
//! files are inside it, or that it is inside of, is one they may read
//! whole (`Authorizer::reads_whole`). The location is compared in its
//! canonical form (`weir_catalog::LakeLocation::canonical`: one spelling,
//! links followed), segment by segment.
//!
//! Tables come and go after a registration: `may_scan` asks the same
//! question again, of the reading user, at every read of an external table
//! inside the lake.

use crate::authorizer::{Authorizer, Subject};

/// The role whose members (and superusers) may register files by location
/// as tables, PostgreSQL's predefined role of that name for reading files
/// on the server: `GRANT pg_read_server_files TO analyst`.
pub const READ_SERVER_FILES: &str = "pg_read_server_files";
use crate::{PolicyError, Result};

/// A table and where its files are, or a reserved path (Weir's own files:
/// keys, the catalog database, spill and audit folders).
#[derive(Debug, Clone)]
pub struct TableFiles {
    /// Its object name (`lake.s.t`); empty for a reserved path.
    pub object: String,
    /// Its location's segments below the lake root (`None`: outside it).
    pub path: Option<Vec<String>>,
}

impl TableFiles {
    /// A path below the lake root that no user but a superuser may
    /// register or read a table over.
    pub fn reserved(path: Vec<String>) -> Self {
        Self {
            object: String::new(),
            path: Some(path),
        }
    }
}

/// May `subject` register the location `written` (as the statement spelt
/// it), whose canonical form lies at `path` below the lake root (`None`:
/// outside the lake), given every table of the lake and its files?
pub(crate) fn may_register(
    auth: &Authorizer,
    subject: &Subject,
    written: &str,
    path: Option<&[String]>,
    tables: &[TableFiles],
) -> Result<()> {
    if auth.is_superuser(subject) {
        return Ok(());
    }
    if !auth
        .effective_roles(subject)
        .iter()
        .any(|r| r == READ_SERVER_FILES)
    {
        return Err(PolicyError::ReadServerFiles(written.to_owned()));
    }
    let refuse = || PolicyError::Location(written.to_owned());
    let path = path.ok_or_else(refuse)?;
    if reads_all_around(auth, subject, path, tables.iter()) {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// May `subject` read the files of external table `object`, whose location
/// lies at `path` below the lake root (`None`: outside it, where a
/// superuser registered it and no lake table can be)? Every other table
/// whose files are inside its folder, or that holds it, must be one the
/// reader may read whole, now: a table created there since the
/// registration is covered. (`object`'s own rules apply to it as to any
/// table.)
pub(crate) fn may_scan(
    auth: &Authorizer,
    subject: &Subject,
    object: &str,
    path: Option<&[String]>,
    tables: &[TableFiles],
) -> Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    if auth.is_superuser(subject)
        || reads_all_around(
            auth,
            subject,
            path,
            tables.iter().filter(|t| t.object != object),
        )
    {
        Ok(())
    } else {
        Err(PolicyError::Files(object.to_owned()))
    }
}

/// Whether every one of `tables` whose files overlap `path` (inside it,
/// or holding it) is one `subject` may read whole.
fn reads_all_around<'a>(
    auth: &Authorizer,
    subject: &Subject,
    path: &[String],
    mut tables: impl Iterator<Item = &'a TableFiles>,
) -> bool {
    tables.all(|table| {
        let Some(files) = table.path.as_deref() else {
            return true;
        };
        let overlaps = files.starts_with(path) || path.starts_with(files);
        !overlaps || (!table.object.is_empty() && auth.reads_whole(subject, &table.object))
    })
}
