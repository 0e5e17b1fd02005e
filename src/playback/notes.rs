//! What the decision of one content request learned, for its audit event.

use crate::decision::Decision;
use crate::keys::StoredKey;

/// The asset, the user and the decision trail of one request (the audit event's facts).
#[derive(Debug, Clone, Default)]
pub struct DecisionNotes {
    pub asset: Option<String>,
    pub user: Option<String>,
    pub trail: Vec<crate::audit::TrailStep>,
}

impl DecisionNotes {
    pub(super) fn note_key(&mut self, stored: &StoredKey) {
        self.asset = stored.asset().ok().map(|a| a.as_str().to_owned());
    }

    pub(super) fn note_decision(&mut self, decision: &Decision) {
        self.asset = Some(decision.asset.as_str().to_owned());
        self.trail = decision.trail.iter().map(Into::into).collect();
        let granted = decision.outcome.as_ref().ok().and_then(|g| g.uid.as_ref());
        self.user = decision
            .viewer
            .as_ref()
            .or(granted)
            .map(|u| u.as_str().to_owned());
    }
}
