//! The `paging` measurement: after a standard hello run has left `n` completed instances,
//! time QueryInstances through all of them, `page_size` per page, following the continuation
//! token, and check that every instance came back once, COMPLETED.

use crate::meter::Meter;
use crate::report::Report;
use crate::{Config, scenario};
use anyhow::Result;
use dt_proto::{InstanceQuery, OrchestrationStatus, QueryInstancesRequest};
use std::collections::HashSet;

pub(crate) async fn run(config: &Config) -> Result<Report> {
    let (mut report, run, mut clients) = scenario::run(config).await?;
    let Some(client) = clients.first_mut() else {
        return Ok(report);
    };
    let most_pages = config.n / config.page_size.max(1) as usize * 2 + 10;
    let meter = Meter::start(config)?;
    let (mut token, mut pages, mut seen) = (None, 0usize, HashSet::new());
    loop {
        let page = client
            .query_instances(QueryInstancesRequest {
                query: Some(InstanceQuery {
                    max_instance_count: config.page_size,
                    continuation_token: token.take(),
                    ..Default::default()
                }),
            })
            .await;
        let page = match page {
            Ok(page) => page.into_inner(),
            Err(status) => {
                run.error(format!("QueryInstances failed: {status}"));
                break;
            }
        };
        pages += 1;
        for state in &page.orchestration_state {
            if !run.owns(&state.instance_id) {
                continue;
            }
            if state.orchestration_status != OrchestrationStatus::Completed as i32 {
                run.error(format!(
                    "{} is not COMPLETED in the query",
                    state.instance_id
                ));
            }
            if !seen.insert(state.instance_id.clone()) {
                run.error(format!("{} came back twice", state.instance_id));
            }
        }
        token = page.continuation_token.filter(|t| !t.is_empty());
        if token.is_none() || page.orchestration_state.is_empty() {
            break;
        }
        if pages > most_pages {
            run.error(format!("still paging after {pages} pages"));
            break;
        }
    }
    let usage = meter.stop()?;
    if seen.len() != config.n {
        run.error(format!(
            "paging found {} of {} instances",
            seen.len(),
            config.n
        ));
    }
    eprintln!(
        "[{}] paged {} instances in {pages} pages in {:.1} ms",
        config.label,
        seen.len(),
        usage.wall.as_secs_f64() * 1e3
    );
    report
        .extra
        .insert("paging_ms".into(), usage.wall.as_secs_f64() * 1e3);
    report.extra.insert("pages".into(), pages as f64);
    if let Some(cpu) = usage.server_cpu_ms {
        report.extra.insert("paging_server_cpu_ms".into(), cpu);
    }
    report.finish(&run);
    Ok(report)
}
