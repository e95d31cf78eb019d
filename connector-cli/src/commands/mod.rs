pub mod export;
pub mod list;
pub mod new;
pub mod run;
pub mod schema;
pub mod validate;
