//! The output role as its supervisor holds it: sessions are [`OutputSession`]s, and a write
//! that comes while none runs is refused at once (`down`; the dispatcher waits and sends it
//! again).

use std::sync::Arc;

use super::request::{WriteError, WriteRequest};
use super::session::OutputSession;
use crate::plugin::supervisor::fault::{Child, Fault};
use crate::plugin::supervisor::role::{Role, Session};
use crate::plugin::supervisor::Context;
use crate::selfmetrics::SelfMetrics;

/// The output role.
pub struct OutputRole {
    pub(crate) name: String,
    pub(crate) max_in_flight: usize,
    pub(crate) metrics: Arc<SelfMetrics>,
}

impl Role for OutputRole {
    type Request = WriteRequest;
    type Session = OutputSession;

    async fn open(&self, ctx: &Context) -> Result<(OutputSession, Option<Child>), Fault> {
        let (session, child) =
            OutputSession::open(ctx.clone(), self.metrics.clone(), self.max_in_flight).await?;
        Ok((session, Some(child)))
    }

    fn refuse(&self, req: WriteRequest) {
        let _ = req.reply.send(Err(WriteError::Down));
    }

    fn down(&self) {
        self.metrics.up.with_label_values(&[&self.name]).set(0.0);
    }
}

impl Session for OutputSession {
    type Request = WriteRequest;

    fn request(&mut self, req: WriteRequest) {
        OutputSession::request(self, req);
    }

    async fn step(&mut self) -> Option<Fault> {
        OutputSession::step(self).await
    }

    fn shutdown(&mut self) {
        OutputSession::shutdown(self);
    }

    fn close(&mut self) {
        OutputSession::close(self);
    }
}
