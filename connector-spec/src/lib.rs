//! The connector model, YAML spec loading with located diagnostics, validation and export.
pub mod auth;
pub mod diagnostic;
pub mod model;
pub mod source;
pub mod yaml;
