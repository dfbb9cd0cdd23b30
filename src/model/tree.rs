//! The documents of one trace, linked: nested subsegments under their parents, independent
//! subsegments under `parent_id`, callee segments under the caller's subsegment. Used to
//! compute summaries; tolerant of missing parents and of parent cycles.

use super::ids::SegmentId;
use super::intern::{self, Sid};
use super::segment::{DocKind, Entity, ValidDoc};
use super::time::{Micros, secs_to_micros};
use std::borrow::Cow;

pub struct Node<'d> {
    pub e: &'d Entity<'d>,
    pub id: Option<SegmentId>,
    pub is_segment: bool,
    pub start: Option<Micros>,
    /// `None` while in progress.
    pub end: Option<Micros>,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// The nearest segment at or above this node (not across a callee boundary).
    pub owner: Option<usize>,
    /// A segment's service, interned once: summaries ask for it node after node.
    sid: Option<Sid>,
}

impl Node<'_> {
    pub fn duration(&self) -> Option<Micros> {
        Some(self.end? - self.start?)
    }
}

pub struct Tree<'d> {
    pub nodes: Vec<Node<'d>>,
}

fn secs(t: Option<f64>) -> Option<Micros> {
    t.and_then(secs_to_micros)
}

fn is_ancestor(nodes: &[Node<'_>], candidate: usize, of: usize) -> bool {
    let mut cur = Some(of);
    let mut hops = 0;
    while let Some(c) = cur {
        if c == candidate {
            return true;
        }
        cur = nodes[c].parent;
        hops += 1;
        if hops > nodes.len() {
            return true;
        }
    }
    false
}

/// The node X-Ray shows for an AWS SDK call that no segment answers: its name and type. A
/// DynamoDB call that targets one table is that table's node; other DynamoDB calls meet in
/// one generic `DynamoDB` node; any other service is one node named as the SDK names it.
pub fn aws_node<'a>(name: &'a str, table_name: Option<&'a str>) -> (&'a str, Cow<'static, str>) {
    if name.eq_ignore_ascii_case("dynamodb") {
        match table_name.filter(|t| !t.is_empty()) {
            Some(table) => (table, Cow::Borrowed("AWS::DynamoDB::Table")),
            None => (name, Cow::Borrowed("AWS::DynamoDB")),
        }
    } else {
        (name, Cow::Owned(format!("AWS::{name}")))
    }
}

/// The service an entity reports as a segment.
fn entity_service(e: &Entity<'_>) -> Sid {
    intern::service(
        e.name.as_deref().unwrap_or(""),
        e.aws.as_ref().and_then(|a| a.account_id.as_deref()),
        e.origin.as_deref(),
    )
}

impl<'d> Tree<'d> {
    pub fn build(docs: &'d [&'d ValidDoc<'d>]) -> Tree<'d> {
        let mut nodes: Vec<Node<'d>> = Vec::new();
        let mut stack: Vec<(&'d Entity<'d>, Option<usize>, bool)> = Vec::new();
        let mut doc_roots = Vec::with_capacity(docs.len());
        for d in docs {
            doc_roots.push(nodes.len());
            stack.push((&d.entity, None, d.kind == DocKind::Segment));
            while let Some((e, parent, is_segment)) = stack.pop() {
                let idx = nodes.len();
                nodes.push(Node {
                    e,
                    id: e.id.as_deref().and_then(SegmentId::parse),
                    is_segment,
                    start: secs(e.start_time),
                    end: if e.in_progress == Some(true) {
                        None
                    } else {
                        secs(e.end_time)
                    },
                    parent,
                    children: Vec::new(),
                    owner: None,
                    sid: is_segment.then(|| entity_service(e)),
                });
                if let Some(p) = parent {
                    nodes[p].children.push(idx);
                }
                if let Some(subs) = &e.subsegments {
                    for s in subs.iter().rev() {
                        stack.push((s, Some(idx), false));
                    }
                }
            }
        }
        // Sorted rather than hashed: traces are mostly a handful of nodes. Of nodes sharing an
        // id, the last one is the parent.
        let mut by_id: Vec<(SegmentId, usize)> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((n.id?, i)))
            .collect();
        by_id.sort_unstable();
        let find = |id: &SegmentId| {
            let after = by_id.partition_point(|(x, _)| x <= id);
            after
                .checked_sub(1)
                .map(|at| by_id[at])
                .filter(|(x, _)| x == id)
                .map(|(_, i)| i)
        };
        for (d, &root) in docs.iter().zip(&doc_roots) {
            if let Some(p) = d.parent_id.as_ref().and_then(find)
                && p != root
                && !is_ancestor(&nodes, root, p)
            {
                nodes[root].parent = Some(p);
                nodes[p].children.push(root);
            }
        }
        for i in 0..nodes.len() {
            let mut cur = Some(i);
            let mut hops = 0;
            while let Some(c) = cur {
                if nodes[c].is_segment {
                    nodes[i].owner = Some(c);
                    break;
                }
                cur = nodes[c].parent;
                hops += 1;
                if hops > nodes.len() {
                    break;
                }
            }
        }
        Tree { nodes }
    }

    pub fn service_of(&self, seg: usize) -> Sid {
        let n = &self.nodes[seg];
        n.sid.unwrap_or_else(|| entity_service(n.e))
    }

    pub fn owner_service(&self, i: usize) -> Option<Sid> {
        self.nodes[i].owner.map(|o| self.service_of(o))
    }

    pub fn has_callee_segment(&self, i: usize) -> bool {
        self.nodes[i]
            .children
            .iter()
            .any(|&c| self.nodes[c].is_segment)
    }

    /// A downstream call X-Ray shows as an inferred node unless its callee sent a segment.
    pub fn inferred_service(&self, i: usize) -> Option<Sid> {
        let n = &self.nodes[i];
        if n.is_segment || self.has_callee_segment(i) {
            return None;
        }
        let e = n.e;
        let name = e.name.as_deref().unwrap_or("");
        match e.namespace.as_deref() {
            Some("aws") => {
                let table = e.aws.as_ref().and_then(|a| a.table_name.as_deref());
                let (name, kind) = aws_node(name, table);
                Some(intern::service(name, None, Some(&kind)))
            }
            Some("remote") => Some(intern::service(name, None, Some("remote"))),
            _ => None,
        }
    }

    /// The root segment: no parent in the trace; the earliest if several.
    pub fn root(&self) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.is_segment && n.parent.is_none())
            .min_by_key(|(_, n)| (n.start, n.id))
            .map(|(i, _)| i)
    }

    /// Path of node indices from `top` down to `leaf`.
    pub fn path(&self, top: usize, leaf: usize) -> Vec<usize> {
        let mut path = vec![leaf];
        let mut cur = leaf;
        while cur != top {
            match self.nodes[cur].parent {
                Some(p) if path.len() <= self.nodes.len() => {
                    path.push(p);
                    cur = p;
                }
                _ => break,
            }
        }
        path.reverse();
        path
    }
}
