//! The registry of connector types: declarative specs loaded at run time and compiled types,
//! all behind the one `Connector` trait.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use connector_spec::{ConnectorSpec, LoadOptions, SpecLoader};

use crate::connector::{ActionHandler, Connector, DeclarativeConnector};
use crate::dispatch::Dispatcher;
use crate::error::ActionError;

/// The code handlers installed for one connector type: `(action, handler)`.
type CodeHandlers = Vec<(String, Arc<dyn ActionHandler>)>;

/// Connector types by id.
#[derive(Default)]
pub struct Registry {
    types: BTreeMap<String, Arc<Dispatcher>>,
    /// Code handlers by connector type id, attached when a spec with that id is registered.
    handlers: BTreeMap<String, CodeHandlers>,
}

impl Registry {
    /// An empty registry: no connector types, no code handlers.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// An empty registry with the built-in connectors' code handlers installed (see
    /// [`crate::builtins`]): what the CLI and the server run with.
    pub fn with_builtins() -> Registry {
        let mut registry = Registry::new();
        for b in crate::builtins::all() {
            registry.attach(b.connector, b.action, b.handler);
        }
        registry
    }

    /// Install every built-in handler ([`crate::builtins::all`]), before the bundled specs
    /// are registered.
    pub fn install_builtins(&mut self) -> Result<(), ActionError> {
        for b in crate::builtins::all() {
            self.add_handler(b.connector, b.action, b.handler)?;
        }
        Ok(())
    }

    /// Install the Rust handler of a `handler: code` action of connector type `connector`,
    /// attached when its spec is registered with [`Registry::register_spec`]. Refused once
    /// that type is registered: its dispatcher is built and would never see the handler.
    pub fn add_handler(
        &mut self,
        connector: &str,
        action: &str,
        handler: Arc<dyn ActionHandler>,
    ) -> Result<(), ActionError> {
        if self.types.contains_key(connector) {
            return Err(ActionError::user(
                "handler_too_late",
                format!(
                    "connector type {connector} is already registered; add the handler of \
                     `{action}` before registering its spec"
                ),
            ));
        }
        self.attach(connector, action, handler);
        Ok(())
    }

    fn attach(&mut self, connector: &str, action: &str, handler: Arc<dyn ActionHandler>) {
        self.handlers
            .entry(connector.to_string())
            .or_default()
            .push((action.to_string(), handler));
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

    /// Register a declarative spec with the code handlers installed for its id (a handler
    /// installed as [`crate::builtins::CONNECTION_TEST`] is its `test: { handler: code }`).
    pub fn register_spec(&mut self, spec: ConnectorSpec) -> Result<Arc<Dispatcher>, ActionError> {
        let handlers = self.handlers.get(&spec.id).cloned().unwrap_or_default();
        let connector = handlers.into_iter().fold(
            DeclarativeConnector::new(Arc::new(spec)),
            |c, (action, handler)| {
                if action == crate::builtins::CONNECTION_TEST {
                    c.with_test_handler(handler)
                } else {
                    c.with_handler(&action, handler)
                }
            },
        );
        self.register(Arc::new(connector))
    }

    /// Load and register every spec file under `dir`; spec diagnostics become one error.
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, ActionError> {
        let files = connector_spec::collect_spec_files(&[dir.to_path_buf()])
            .map_err(|e| ActionError::user("io", format!("cannot read {}: {e}", dir.display())))?;
        let loader = SpecLoader::new(LoadOptions::default());
        for f in &files {
            self.register_loaded(loader.load_file(f))?;
        }
        Ok(files.len())
    }

    /// Load and register specs from (name, text) pairs (a verified catalog's sources, say);
    /// `name` is what diagnostics show.
    pub fn load_sources(&mut self, sources: &[(String, String)]) -> Result<usize, ActionError> {
        let loader = SpecLoader::new(LoadOptions::default());
        for (name, text) in sources {
            self.register_loaded(loader.load_str(name, text))?;
        }
        Ok(sources.len())
    }

    /// Register a loaded spec; its diagnostics become one error when it has errors.
    fn register_loaded(&mut self, loaded: connector_spec::Loaded) -> Result<(), ActionError> {
        let Some(spec) = loaded.spec.clone() else {
            return Err(ActionError::user(
                "invalid_spec",
                format!(
                    "{} has errors:\n{}",
                    loaded.source.name(),
                    loaded.render(false)
                ),
            ));
        };
        self.register_spec(spec)?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Dispatcher>> {
        self.types.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }
}
