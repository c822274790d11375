//! The "table" output format (etcdctl's `printer_table.go`): the rows
//! `print.rs` makes for a response, drawn as tablewriter draws them.

use crate::pb::etcdserverpb::MemberListResponse;

use super::endpoint::{EpHashKv, EpHealth, EpStatus};
use super::print::{
    make_db_status_table, make_endpoint_hash_kv_table, make_endpoint_health_table,
    make_endpoint_status_table, make_member_list_table, Printer, Table,
};
use super::{CmdResult, Output};

/// An ASCII table like olekukonko/tablewriter as etcdctl configures it:
/// centred headers, right-aligned cells.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let sep: String = format!(
        "+{}+\n",
        w.iter()
            .map(|x| "-".repeat(x + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let mut out = sep.clone();
    out.push('|');
    for (i, h) in header.iter().enumerate() {
        let gap = w[i] - h.chars().count();
        let l = gap / 2;
        out.push_str(&format!(" {}{}{} |", " ".repeat(l), h, " ".repeat(gap - l)));
    }
    out.push('\n');
    out.push_str(&sep);
    for r in rows {
        out.push('|');
        for (i, c) in r.iter().enumerate().take(n) {
            out.push_str(&format!(" {:>width$} |", c, width = w[i]));
        }
        out.push('\n');
    }
    out.push_str(&sep);
    out
}

fn print_table(o: &mut Output, (hdr, rows): Table) -> CmdResult {
    o.out(table(hdr, &rows));
    Ok(())
}

pub(super) struct TablePrinter;

impl Printer for TablePrinter {
    fn name(&self) -> &'static str {
        "table"
    }
    fn member_list(&self, o: &mut Output, r: &MemberListResponse) -> CmdResult {
        print_table(o, make_member_list_table(r))
    }
    fn endpoint_health(&self, o: &mut Output, hs: &[EpHealth]) -> CmdResult {
        print_table(o, make_endpoint_health_table(hs))
    }
    fn endpoint_status(&self, o: &mut Output, ss: &[EpStatus]) -> CmdResult {
        print_table(o, make_endpoint_status_table(ss))
    }
    fn endpoint_hash_kv(&self, o: &mut Output, hs: &[EpHashKv]) -> CmdResult {
        print_table(o, make_endpoint_hash_kv_table(hs))
    }
    fn db_status(&self, o: &mut Output, st: &crate::snapshot::Status) -> CmdResult {
        print_table(o, make_db_status_table(st))
    }
}
