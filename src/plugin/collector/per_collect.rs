//! The session of a collector run once per collect (`format: prometheus | nagios`): no
//! process lives between collects, so nothing fails between them; each collect runs the
//! command in the plugin's fence ([`super::command_run`]), single flight like JSON-lines
//! plugins, on scrape or every interval.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Interval;

use super::answers::{finish, Live};
use super::command_run::{self, interpret, Failure};
use super::shared::{batch_options, CollectError, CollectRequest, CollectResult, Shared};
use crate::codes::ErrorKind;
use crate::config::Mode;
use crate::exposition::batch::{build_batch, Batch};
use crate::exposition::validate::Drops;
use crate::plugin::processor::pipeline;
use crate::plugin::stderr::read_stderr;
use crate::plugin::supervisor::fault::Fault;
use crate::plugin::supervisor::Context;

type Outcome = Result<(Arc<Batch>, Drops), Failure>;

/// Collects of a command run per collect.
pub struct PerCollectSession {
    ctx: Context,
    shared: Arc<Shared>,
    live: Option<Live>,
    task: Option<JoinHandle<()>>,
    done_tx: mpsc::Sender<Outcome>,
    done_rx: mpsc::Receiver<Outcome>,
    tick: Option<Interval>,
}

impl PerCollectSession {
    /// Ready to run the command on the first collect.
    pub fn new(ctx: Context, shared: Arc<Shared>) -> Self {
        let (done_tx, done_rx) = mpsc::channel(1);
        let cfg = ctx.config();
        let tick = (cfg.mode == Mode::Interval).then(|| {
            let mut t = tokio::time::interval(cfg.interval);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        PerCollectSession {
            ctx,
            shared,
            live: None,
            task: None,
            done_tx,
            done_rx,
            tick,
        }
    }

    /// A scrape's collect: joins the running one or runs the command.
    pub fn request(&mut self, req: CollectRequest) {
        match &mut self.live {
            Some(l) => l.waiters.push(req.reply),
            None => self.begin(req.deadline, Some(req.reply)),
        }
    }

    /// The end of a run, or the interval timer. Never a fault: no process outlives a run.
    pub async fn step(&mut self) -> Option<Fault> {
        tokio::select! {
            Some(outcome) = self.done_rx.recv() => {
                self.task = None;
                let result = self.outcome(outcome);
                finish(&self.shared, self.live.take(), result);
            }
            _ = async { self.tick.as_mut().expect("guarded by is_some").tick().await }, if self.tick.is_some() => {
                if self.live.is_none() {
                    self.begin(self.ctx.config().timeout, None);
                }
            }
        }
        None
    }

    /// Stops a run in progress and fails its collect.
    pub fn close(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        finish(&self.shared, self.live.take(), Err(CollectError::Down));
    }

    fn outcome(&self, outcome: Outcome) -> CollectResult {
        match outcome {
            Ok((batch, drops)) => {
                for (kind, n) in drops.counts() {
                    self.shared.error(kind, n);
                }
                Ok(batch)
            }
            Err(failure) => {
                self.shared.error(failure.kind(), 1);
                if let Some(l) = failure.limit() {
                    self.shared.limit_hit(l);
                }
                let detail = failure.to_string();
                tracing::warn!(plugin = %self.ctx.name(), error = %detail, "collect failed");
                self.ctx.set_last_error(detail.clone());
                Err(CollectError::Plugin(detail))
            }
        }
    }

    fn begin(&mut self, deadline: Duration, reply: Option<oneshot::Sender<CollectResult>>) {
        self.live = Some(Live::new(0, deadline, reply));
        let (ctx, shared, tx) = (self.ctx.clone(), self.shared.clone(), self.done_tx.clone());
        self.task = Some(tokio::spawn(async move {
            let outcome = collect(&ctx, &shared, deadline).await;
            let _ = tx.send(outcome).await;
        }));
    }
}

/// One collect: run the command, read what it printed in its format, build the batch.
/// Output that cannot be read is counted (`parse_error`) and logged; the valid rest is
/// served.
async fn collect(ctx: &Context, shared: &Shared, deadline: Duration) -> Outcome {
    let cfg = ctx.config();
    let opts = batch_options(cfg, ctx.plugin_label());
    let spawned = ctx.spawn_run().await.map_err(Failure::Spawn)?;
    let plugin = ctx.name().to_string();
    let out = command_run::run(
        spawned,
        deadline,
        opts.max_line,
        |err| {
            tokio::spawn(read_stderr(err, plugin));
        },
        || ctx.clean_up_after(),
    )
    .await?;
    let (families, problems) = interpret(cfg.format, &out).map_err(Failure::Exit)?;
    if !problems.is_empty() {
        shared.error(ErrorKind::ParseError, problems.len() as u64);
        for p in problems.iter().take(5) {
            tracing::warn!(plugin = %ctx.name(), problem = %p, "dropped invalid output");
        }
    }
    let mut drops = Drops::default();
    let families = if shared.processors.is_empty() {
        families
    } else {
        match pipeline::run(&shared.processors, families, &opts).await {
            Some(families) => families,
            None => return Ok((Arc::new(Batch::empty()), drops)),
        }
    };
    let batch = build_batch(families, &opts, &mut drops).map_err(Failure::Rejected)?;
    Ok((batch, drops))
}
