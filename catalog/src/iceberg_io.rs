//! Iceberg's file I/O on the lake's object store.
//!
//! iceberg-rust 0.10 reads and writes every file (metadata JSON, manifest
//! lists, manifests, Parquet data) through its `Storage` trait. Weir plugs in
//! [`LakeStorage`], so Iceberg tables use the same `object_store` client,
//! credentials and endpoint as the rest of the lake, local or S3, instead of
//! a second storage stack.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage, StorageConfig,
    StorageFactory,
};
use iceberg::{Error, ErrorKind};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

use crate::LakeLocation;

/// Files larger than this are uploaded in parts.
const PART_SIZE: usize = 8 << 20;

/// Iceberg `Storage` over the lake's object store.
#[derive(Clone, Serialize, Deserialize)]
pub struct LakeStorage {
    /// The lake root URI (what a deserialized copy would report).
    lake: String,
    #[serde(skip)]
    inner: Option<Inner>,
}

#[derive(Clone)]
struct Inner {
    location: LakeLocation,
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for LakeStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeStorage")
            .field("lake", &self.lake)
            .finish()
    }
}

impl LakeStorage {
    /// Storage for files under `location`, kept in `store`.
    pub fn new(location: LakeLocation, store: Arc<dyn ObjectStore>) -> Self {
        Self {
            lake: location.uri(),
            inner: Some(Inner { location, store }),
        }
    }

    fn resolve(&self, path: &str) -> iceberg::Result<(&Arc<dyn ObjectStore>, ObjectPath)> {
        let inner = self.inner.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                format!(
                    "storage for {} was deserialized without its store",
                    self.lake
                ),
            )
        })?;
        let key = inner
            .location
            .object_path(path)
            .map_err(|e| Error::new(ErrorKind::DataInvalid, e.to_string()))?;
        Ok((&inner.store, key))
    }
}

fn io_error(what: &str, path: &str, e: object_store::Error) -> Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => ErrorKind::DataInvalid,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("cannot {what} {path}")).with_source(e)
}

#[async_trait]
#[typetag::serde]
impl Storage for LakeStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        let (store, key) = self.resolve(path)?;
        match store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(io_error("check", path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        let (store, key) = self.resolve(path)?;
        let meta = store
            .head(&key)
            .await
            .map_err(|e| io_error("stat", path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        let (store, key) = self.resolve(path)?;
        store
            .get(&key)
            .await
            .map_err(|e| io_error("read", path, e))?
            .bytes()
            .await
            .map_err(|e| io_error("read", path, e))
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        let (store, key) = self.resolve(path)?;
        Ok(Box::new(ObjectRead {
            store: store.clone(),
            key,
            path: path.to_owned(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        let (store, key) = self.resolve(path)?;
        store
            .put(&key, PutPayload::from(bs))
            .await
            .map_err(|e| io_error("write", path, e))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        let (store, key) = self.resolve(path)?;
        Ok(Box::new(ObjectWrite {
            store: store.clone(),
            key,
            path: path.to_owned(),
            buffer: Vec::new(),
            upload: None,
            closed: false,
        }))
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        let (store, key) = self.resolve(path)?;
        match store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error("delete", path, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        let (store, key) = self.resolve(path)?;
        let prefix = ObjectPath::from(format!("{}/", key.as_ref().trim_end_matches('/')));
        let keys = store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
        store
            .delete_stream(keys)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| io_error("delete under", path, e))?;
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_owned()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_owned()))
    }
}

/// Ranged reads of one object.
struct ObjectRead {
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    path: String,
}

#[async_trait]
impl FileRead for ObjectRead {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        self.store
            .get_range(&self.key, range)
            .await
            .map_err(|e| io_error("read", &self.path, e))
    }
}

/// A file written in one `put` when small, as a multipart upload when large;
/// either way the object appears whole, or not at all, when closed.
struct ObjectWrite {
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    path: String,
    buffer: Vec<u8>,
    upload: Option<WriteMultipart>,
    closed: bool,
}

#[async_trait]
impl FileWrite for ObjectWrite {
    async fn write(&mut self, bs: Bytes) -> iceberg::Result<()> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("write to {} after close", self.path),
            ));
        }
        if let Some(upload) = self.upload.as_mut() {
            upload
                .wait_for_capacity(4)
                .await
                .map_err(|e| io_error("write", &self.path, e))?;
            upload.put(bs);
            return Ok(());
        }
        self.buffer.extend_from_slice(&bs);
        if self.buffer.len() >= PART_SIZE {
            let multipart = self
                .store
                .put_multipart(&self.key)
                .await
                .map_err(|e| io_error("write", &self.path, e))?;
            let mut upload = WriteMultipart::new_with_chunk_size(multipart, PART_SIZE);
            upload.put(Bytes::from(std::mem::take(&mut self.buffer)));
            self.upload = Some(upload);
        }
        Ok(())
    }

    async fn close(&mut self) -> iceberg::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        match self.upload.take() {
            Some(upload) => {
                upload
                    .finish()
                    .await
                    .map_err(|e| io_error("write", &self.path, e))?;
            }
            None => {
                let bytes = Bytes::from(std::mem::take(&mut self.buffer));
                self.store
                    .put(&self.key, PutPayload::from(bytes))
                    .await
                    .map_err(|e| io_error("write", &self.path, e))?;
            }
        }
        Ok(())
    }
}

/// Hands every Iceberg `FileIO` the lake's storage.
#[derive(Clone, Serialize, Deserialize)]
pub struct LakeStorageFactory {
    storage: LakeStorage,
}

impl std::fmt::Debug for LakeStorageFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.storage.fmt(f)
    }
}

impl LakeStorageFactory {
    /// A factory handing out `storage`.
    pub fn new(storage: LakeStorage) -> Self {
        Self { storage }
    }
}

#[typetag::serde]
impl StorageFactory for LakeStorageFactory {
    fn build(&self, _config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.storage.clone()))
    }
}
