//! One module per command.

pub mod decide;
pub mod describe;
pub mod get;
pub mod request;
pub mod suspend;
pub mod validate;
pub mod wait;
