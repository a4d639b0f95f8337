//! The processor role as its supervisor holds it: sessions are [`ProcessorSession`]s, and a
//! batch that comes while none runs is refused at once (`down`).

use std::sync::Arc;

use super::request::{ProcessError, ProcessRequest};
use super::session::ProcessorSession;
use crate::plugin::supervisor::fault::{Child, Fault};
use crate::plugin::supervisor::role::{Role, Session};
use crate::plugin::supervisor::Context;
use crate::selfmetrics::SelfMetrics;

/// The processor role.
pub struct ProcessorRole {
    pub(crate) name: String,
    pub(crate) metrics: Arc<SelfMetrics>,
}

impl Role for ProcessorRole {
    type Request = ProcessRequest;
    type Session = ProcessorSession;

    async fn open(&self, ctx: &Context) -> Result<(ProcessorSession, Option<Child>), Fault> {
        let (session, child) = ProcessorSession::open(ctx.clone(), self.metrics.clone()).await?;
        Ok((session, Some(child)))
    }

    fn refuse(&self, req: ProcessRequest) {
        let _ = req.reply.send(Err(ProcessError::Down));
    }

    fn down(&self) {
        self.metrics.up.with_label_values(&[&self.name]).set(0.0);
    }
}

impl Session for ProcessorSession {
    type Request = ProcessRequest;

    fn request(&mut self, req: ProcessRequest) {
        ProcessorSession::request(self, req);
    }

    async fn step(&mut self) -> Option<Fault> {
        ProcessorSession::step(self).await
    }

    fn shutdown(&mut self) {
        ProcessorSession::shutdown(self);
    }

    fn close(&mut self) {
        ProcessorSession::close(self);
    }
}
