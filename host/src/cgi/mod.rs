//! RFC 3875 both ways, as pure functions: a request becomes meta-variables,
//! argv and stdin; a guest's stdout becomes a validated response.

pub mod env;
pub mod output;

pub use env::{argv, meta_variables, EnvPolicy, Mount};
pub use output::{Feed, HeadParser, OutputError, Reply};
