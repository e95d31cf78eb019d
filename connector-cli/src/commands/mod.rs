pub mod export;
pub mod list;
pub mod new;
pub mod schema;
pub mod validate;
