//! The JSON-RPC API: framing ([`dispatch`]), methods ([`methods`]), calls and estimates
//! ([`exec`]), fee history ([`fees`]) and conversions to alloy's RPC types ([`convert`]).

pub mod convert;
pub mod dispatch;
pub mod exec;
pub mod fees;
pub mod methods;

pub use dispatch::handle_body;
