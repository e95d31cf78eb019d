//! The registry of connector types: declarative specs loaded at run time and compiled types,
//! all behind the one `Connector` trait.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use connector_spec::{ConnectorSpec, LoadOptions, SpecLoader};

use crate::connector::{Connector, DeclarativeConnector};
use crate::dispatch::Dispatcher;
use crate::error::ActionError;

/// Connector types by id.
#[derive(Default)]
pub struct Registry {
    types: BTreeMap<String, Arc<Dispatcher>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Register a connector type. A second type with the same id is refused.
    pub fn register(
        &mut self,
        connector: Arc<dyn Connector>,
    ) -> Result<Arc<Dispatcher>, ActionError> {
        let id = connector.spec().id.clone();
        if self.types.contains_key(&id) {
            return Err(ActionError::user(
                "duplicate_connector",
                format!("connector type {id} is already registered"),
            ));
        }
        let d = Arc::new(Dispatcher::new(connector)?);
        self.types.insert(id, Arc::clone(&d));
        Ok(d)
    }

    /// Register a declarative spec with the built-in code handlers for bundled connectors.
    pub fn register_spec(&mut self, spec: ConnectorSpec) -> Result<Arc<Dispatcher>, ActionError> {
        let connector =
            crate::builtin::with_builtin_handlers(DeclarativeConnector::new(Arc::new(spec)));
        self.register(Arc::new(connector))
    }

    /// Load and register every spec file under `dir`; spec diagnostics become one error.
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, ActionError> {
        let files = connector_spec::collect_spec_files(&[dir.to_path_buf()])
            .map_err(|e| ActionError::user("io", format!("cannot read {}: {e}", dir.display())))?;
        let loader = SpecLoader::new(LoadOptions::default());
        let mut n = 0;
        for f in files {
            let loaded = loader.load_file(&f);
            let Some(spec) = loaded.spec.clone() else {
                return Err(ActionError::user(
                    "invalid_spec",
                    format!("{} has errors:\n{}", f.display(), loaded.render(false)),
                ));
            };
            self.register_spec(spec)?;
            n += 1;
        }
        Ok(n)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Dispatcher>> {
        self.types.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }
}
