//! What an action is handed for one target and one step: the [`Target`] itself, and a
//! [`Context`] that hands out the *reach* the action needs to touch it (a shell on a host over
//! SSH today; Kubernetes, etcd and cloud clients next), already paced and deadline-bound.
//!
//! The engine plans, waves, journals and undoes targets without knowing what they are; the
//! command layer builds the [`Reach`] from settings and inventory and injects it, and tests inject
//! a fake one. Nothing here prints or prompts: the operator is reached through [`Operator`], which
//! the command layer implements.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::contract::{ActionFailure, Node};
use super::node::SshNode;
use crate::cancel::Cancel;
use crate::inventory::Host;
use crate::transport::RateLimiter;
use crate::transport::ssh::{SshOptions, SshTarget};

/// What a step acts on. More kinds (node groups, API endpoints, cloud firewall rules,
/// Kubernetes objects, etcd keys) join as their reaches do; the engine only needs a name and an
/// address for each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An inventory host, reached over SSH.
    Host(Host),
    /// The operator's own machine: steps that act once per step rather than on a fleet
    /// (`wait.healthy` probing API servers, `pause`).
    Operator,
}

/// The name the operator's machine has in events and journals.
pub const OPERATOR: &str = "operator";

impl Target {
    /// The name in events, journals and folded output.
    pub fn name(&self) -> &str {
        match self {
            Target::Host(h) => &h.name,
            Target::Operator => OPERATOR,
        }
    }

    /// Where it is reached (`ip:port` for a host).
    pub fn address(&self) -> String {
        match self {
            Target::Host(h) => h.socket_addr().to_string(),
            Target::Operator => "local".into(),
        }
    }

    pub fn host(&self) -> Option<&Host> {
        match self {
            Target::Host(h) => Some(h),
            Target::Operator => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which kind of target an action acts on: decides what a step's `targets` select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Inventory hosts chosen by the step's `targets` selector.
    Hosts,
    /// Once, from the operator's machine (the step has no `targets`).
    Operator,
}

/// The operator, as actions need them: typed confirmation and pauses. Implemented by the
/// command layer (terminal prompts, the lab demo's scripted answers); nothing below it reads
/// the terminal.
pub trait Operator: Send + Sync {
    /// Asks the operator to type `expected` before `step` runs. False: declined.
    fn confirm(&self, step: &str, what: &str, expected: &str) -> bool;
    /// Waits at a `pause` step. False: the operator chose to stop.
    fn pause(&self, step: &str, message: &str) -> bool;
}

/// How a run reaches its targets. Built by the command from settings and inventory; the engine
/// only passes it on.
pub trait Reach: Send + Sync {
    /// A shell on `host` for one step: every call of the step shares one session. `timeout`
    /// (the step's own) replaces the run's command deadline.
    fn shell(&self, host: &Host, timeout: Option<Duration>) -> Box<dyn Node + Send>;
}

/// The reach over SSH: the run's trust, credentials and deadlines, and its `--rate` limiter,
/// which every new session waits on.
pub struct SshReach {
    pub options: Arc<SshOptions>,
    pub limiter: Arc<RateLimiter>,
}

impl Reach for SshReach {
    fn shell(&self, host: &Host, timeout: Option<Duration>) -> Box<dyn Node + Send> {
        Box::new(SshNode::new(
            ssh_target(host),
            &self.options,
            timeout,
            &self.limiter,
        ))
    }
}

/// The SSH endpoint of an inventory host (and its jump host).
pub fn ssh_target(host: &Host) -> SshTarget {
    SshTarget {
        name: host.name.clone(),
        addr: host.socket_addr(),
        user: host.user.clone(),
        host_key: host.host_key.clone(),
        jump: host.jump.as_deref().map(|j| Box::new(ssh_target(j))),
    }
}

/// What an action gets for one target in one step.
pub trait Context {
    fn target(&self) -> &Target;
    /// A shell on the target (one session for the whole step). Refused for targets that are
    /// not hosts.
    fn shell(&mut self) -> Result<&mut dyn Node, ActionFailure>;
    /// Set by the first Ctrl-C: long waits end early.
    fn cancel(&self) -> &Cancel;
    /// The operator, for pauses.
    fn operator(&self) -> &dyn Operator;
    /// `--yes`: nobody is at the terminal.
    fn unattended(&self) -> bool;
    /// The step being run (for prompts and messages).
    fn step(&self) -> &str;
    /// A progress line for the operator (long waits), shown as a notice.
    fn notice(&self, message: &str);
}

/// The engine's [`Context`]: opens the reach lazily, so a step that never calls the shell
/// (a refused guard rail) costs the target no login.
pub struct StepContext<'a> {
    pub target: &'a Target,
    pub step: &'a str,
    pub reach: &'a dyn Reach,
    pub timeout: Option<Duration>,
    pub cancel: &'a Cancel,
    pub operator: &'a dyn Operator,
    pub unattended: bool,
    pub notice: &'a (dyn Fn(&str) + Sync),
    shell: Option<Box<dyn Node + Send>>,
}

impl<'a> StepContext<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: &'a Target,
        step: &'a str,
        reach: &'a dyn Reach,
        timeout: Option<Duration>,
        cancel: &'a Cancel,
        operator: &'a dyn Operator,
        unattended: bool,
        notice: &'a (dyn Fn(&str) + Sync),
    ) -> StepContext<'a> {
        StepContext {
            target,
            step,
            reach,
            timeout,
            cancel,
            operator,
            unattended,
            notice,
            shell: None,
        }
    }
}

impl Context for StepContext<'_> {
    fn target(&self) -> &Target {
        self.target
    }

    fn shell(&mut self) -> Result<&mut dyn Node, ActionFailure> {
        let Target::Host(host) = self.target else {
            return Err(ActionFailure::refused(format!(
                "step {} acts on {}, which has no shell",
                self.step, self.target
            )));
        };
        let shell = match self.shell.take() {
            Some(shell) => shell,
            None => self.reach.shell(host, self.timeout),
        };
        Ok(self.shell.insert(shell).as_mut())
    }

    fn cancel(&self) -> &Cancel {
        self.cancel
    }

    fn operator(&self) -> &dyn Operator {
        self.operator
    }

    fn unattended(&self) -> bool {
        self.unattended
    }

    fn step(&self) -> &str {
        self.step
    }

    fn notice(&self, message: &str) {
        (self.notice)(message);
    }
}

/// In unit tests a canned shell is a whole context: actions are tested against it directly
/// (`action.apply(&mut canned, ..)`), with nobody at the terminal and nothing cancelled.
#[cfg(test)]
impl<T: Node> Context for T {
    fn target(&self) -> &Target {
        static TEST_TARGET: Target = Target::Operator;
        &TEST_TARGET
    }

    fn shell(&mut self) -> Result<&mut dyn Node, ActionFailure> {
        Ok(self)
    }

    fn cancel(&self) -> &Cancel {
        static NEVER: std::sync::OnceLock<Cancel> = std::sync::OnceLock::new();
        NEVER.get_or_init(Cancel::new)
    }

    fn operator(&self) -> &dyn Operator {
        &NoOperator
    }

    fn unattended(&self) -> bool {
        true
    }

    #[allow(clippy::unnecessary_literal_bound)] // the trait's real contexts borrow theirs
    fn step(&self) -> &str {
        "test"
    }

    fn notice(&self, _message: &str) {}
}

/// Nobody at the terminal: declines everything.
#[cfg(test)]
struct NoOperator;

#[cfg(test)]
impl Operator for NoOperator {
    fn confirm(&self, _step: &str, _what: &str, _expected: &str) -> bool {
        false
    }

    fn pause(&self, _step: &str, _message: &str) -> bool {
        false
    }
}
