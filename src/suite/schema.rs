//! JSON Schemas from specs/, each compiled once per run and shared by every case that names it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where `schema:` names are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Specs {
    /// A folder (`--specs DIR`, or the `specs/` beside a suites folder).
    Dir(PathBuf),
    /// The specs built into tokenconf (see [`super::builtin`]).
    BuiltIn,
}

impl Specs {
    /// The bytes of `name` and the path errors name it by.
    fn read(&self, name: &str) -> Result<(Vec<u8>, PathBuf), String> {
        self.read_kind(name, crate::suite::input::FileKind::Schema)
    }

    /// The bytes of file `name` under the specs (a schema, a stored vendor page), read through
    /// the capped reader as a `kind`, and the path errors name it by.
    pub(crate) fn read_kind(
        &self,
        name: &str,
        kind: crate::suite::input::FileKind,
    ) -> Result<(Vec<u8>, PathBuf), String> {
        match self {
            Specs::Dir(dir) => {
                let path = dir.join(name);
                crate::suite::input::read_text(&path, kind)
                    .map(|text| (text.into_bytes(), path))
                    .map_err(|e| format!("cannot read {} {e}", kind.name()))
            }
            Specs::BuiltIn => {
                let path = Path::new(super::builtin::SPECS_DIR).join(name);
                match super::builtin::spec(name) {
                    Some(bytes) => Ok((bytes.into_owned(), path)),
                    None => Err(format!(
                        "no built-in schema {}; name a folder of your own with --specs DIR \
                         (`tokenconf suites export DIR` writes the built-in ones out)",
                        path.display()
                    )),
                }
            }
        }
    }
}

/// An index into the registry; cheap to copy into the loaded model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaId(usize);

pub struct CompiledSchema {
    /// As written in the suite, relative to the specs folder.
    pub name: String,
    pub validator: jsonschema::Validator,
    /// xxh3 of its bytes, for the suites' digest.
    pub hash: u64,
}

#[derive(Default)]
pub struct SchemaRegistry {
    schemas: Vec<CompiledSchema>,
    by_name: HashMap<String, SchemaId>,
}

impl SchemaRegistry {
    /// Compiles `name` (relative to the specs) unless it already is; the error is one line.
    pub fn add(&mut self, specs: &Specs, name: &str) -> Result<SchemaId, String> {
        if let Some(id) = self.by_name.get(name) {
            return Ok(*id);
        }
        let (bytes, path) = specs.read(name)?;
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        let schema: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("schema {} is not JSON: {e}", path.display()))?;
        let validator = jsonschema::draft202012::new(&schema)
            .map_err(|e| format!("schema {} is not a valid JSON Schema: {e}", path.display()))?;
        let id = SchemaId(self.schemas.len());
        self.schemas.push(CompiledSchema {
            name: name.to_string(),
            validator,
            hash,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    /// Every compiled schema, in the order they were first named.
    pub fn iter(&self) -> impl Iterator<Item = &CompiledSchema> {
        self.schemas.iter()
    }

    pub fn get(&self, id: SchemaId) -> &CompiledSchema {
        &self.schemas[id.0]
    }

    pub fn len(&self) -> usize {
        self.schemas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }
}
