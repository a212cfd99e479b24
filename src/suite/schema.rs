//! JSON Schemas from specs/, each compiled once per run and shared by every case that names it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// An index into the registry; cheap to copy into the loaded model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaId(usize);

pub struct CompiledSchema {
    /// As written in the suite, relative to the specs folder.
    pub name: String,
    pub validator: jsonschema::Validator,
}

#[derive(Default)]
pub struct SchemaRegistry {
    schemas: Vec<CompiledSchema>,
    by_name: HashMap<String, SchemaId>,
}

impl SchemaRegistry {
    /// Compiles `name` (relative to `specs_dir`) unless it already is; the error is one line.
    pub fn add(&mut self, specs_dir: &Path, name: &str) -> Result<SchemaId, String> {
        if let Some(id) = self.by_name.get(name) {
            return Ok(*id);
        }
        let path: PathBuf = specs_dir.join(name);
        let text = crate::suite::input::read_text(&path, crate::suite::input::FileKind::Schema)
            .map_err(|e| format!("cannot read schema {e}"))?;
        let schema: Value = serde_json::from_str(&text)
            .map_err(|e| format!("schema {} is not JSON: {e}", path.display()))?;
        let validator = jsonschema::draft202012::new(&schema)
            .map_err(|e| format!("schema {} is not a valid JSON Schema: {e}", path.display()))?;
        let id = SchemaId(self.schemas.len());
        self.schemas.push(CompiledSchema {
            name: name.to_string(),
            validator,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
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
