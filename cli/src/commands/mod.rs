//! One module per command.

pub mod apply;
pub mod audit;
pub mod decide;
pub mod describe;
pub mod get;
pub mod ondemand;
pub mod plan;
pub mod request;
pub mod restore;
pub mod suspend;
pub mod validate;
pub mod wait;
pub mod zone;
