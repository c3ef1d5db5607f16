//! The gate's renderers: a [`GateOutcome`](super::GateOutcome) or a
//! [`Baseline`](super::baseline::Baseline) to bytes, never I/O. They live with
//! the gate so that `report/` never imports `gate/`; they borrow the report's
//! helpers (`shorten`, markdown cells) in the one allowed direction.

pub mod junit;
pub mod markdown;
pub mod text;
