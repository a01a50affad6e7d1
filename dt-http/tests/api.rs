//! The admin API over HTTP against an in-process backend: every route, its answers and its
//! errors (400 bad input, 404 unknown id, 409 wrong state, 415 not JSON, 403 read-only).

mod support;

use serde_json::{Value, json};
use support::{Api, BoxError, DEADLINE, encode, spawn_worker};

type Result = std::result::Result<(), BoxError>;

fn ids(page: &Value) -> Vec<String> {
    page["instances"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["instanceId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[tokio::test]
async fn list_filters_by_status_name_id_and_time_and_pages() -> Result {
    let api = Api::start().await?;
    for i in 0..4 {
        api.start_instance("alpha", &format!("a-{i}")).await?;
    }
    for i in 0..3 {
        api.start_instance("beta", &format!("b-{i}")).await?;
    }
    // Never run, so they end at once.
    for id in ["a-0", "b-1"] {
        let (status, body) = api
            .post(&format!("/api/v1/instances/{id}/terminate"), json!({}))
            .await?;
        assert_eq!(status, 202, "{body}");
    }
    let rows: [(&str, &[&str]); 8] = [
        ("", &["a-0", "a-1", "a-2", "a-3", "b-0", "b-1", "b-2"]),
        ("?status=TERMINATED", &["a-0", "b-1"]),
        (
            "?status=PENDING&status=TERMINATED",
            &["a-0", "a-1", "a-2", "a-3", "b-0", "b-1", "b-2"],
        ),
        ("?namePrefix=al", &["a-0", "a-1", "a-2", "a-3"]),
        ("?namePrefix=beta&status=PENDING", &["b-0", "b-2"]),
        ("?instanceIdPrefix=b-", &["b-0", "b-1", "b-2"]),
        (
            "?createdFrom=2000-01-01T00:00:00Z",
            &["a-0", "a-1", "a-2", "a-3", "b-0", "b-1", "b-2"],
        ),
        ("?createdTo=2000-01-01T00:00:00Z", &[]),
    ];
    for (query, expected) in rows {
        let (status, page) = api.get(&format!("/api/v1/instances{query}")).await?;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(ids(&page), expected, "{query}");
    }

    // Pages: with and without a name filter (which can end a page inside a store page).
    for query in [
        "pageSize=3",
        "pageSize=2&namePrefix=beta",
        "pageSize=1&namePrefix=alpha",
    ] {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/v1/instances?{query}");
            if let Some(t) = &token {
                path += &format!("&continuationToken={}", encode(t));
            }
            let (status, page) = api.get(&path).await?;
            assert_eq!(status, 200, "{path}: {page}");
            seen.extend(ids(&page));
            pages += 1;
            assert!(pages < 20, "{query}: paging does not end");
            match page["continuationToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        let name = if query.contains("beta") {
            "b-"
        } else if query.contains("alpha") {
            "a-"
        } else {
            ""
        };
        let expected: Vec<String> = ["a-0", "a-1", "a-2", "a-3", "b-0", "b-1", "b-2"]
            .iter()
            .filter(|i| i.starts_with(name))
            .map(|i| (*i).to_owned())
            .collect();
        assert_eq!(seen, expected, "{query}: every instance once, in order");
    }

    for bad in [
        "?pageSize=0",
        "?pageSize=1001",
        "?pageSize=x",
        "?status=BOGUS",
        "?createdFrom=yesterday",
        "?continuationToken=garbage",
        "?continuationToken=0.notanumber",
        "?unknown=1",
    ] {
        let (status, body) = api.get(&format!("/api/v1/instances{bad}")).await?;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(error_code(&body), "BAD_REQUEST", "{bad}");
    }
    Ok(())
}

#[tokio::test]
async fn start_checks_its_body_and_the_shared_rules() -> Result {
    let api = Api::start().await?;
    let response = api
        .http
        .post(api.url("/api/v1/instances"))
        .json(
            &json!({"name": "hello", "input": {"n": 1}, "tags": {"team": "blue"}, "version": "2"}),
        )
        .send()
        .await?;
    assert_eq!(response.status(), 201);
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned)
        .ok_or("no location")?;
    let (_, created) = api.get(&location).await?;
    assert_eq!(created["name"], "hello");
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["input"], r#"{"n":1}"#);
    assert_eq!(created["tags"]["team"], "blue");
    assert_eq!(created["version"], "2");

    let (status, body) = api
        .post("/api/v1/instances", json!({"name": "later", "instanceId": "s-1", "scheduledStartAt": "2999-01-01T00:00:00Z"}))
        .await?;
    assert_eq!(status, 201, "{body}");
    let (_, later) = api.get("/api/v1/instances/s-1").await?;
    assert_eq!(later["scheduledStartAt"], "2999-01-01T00:00:00.000Z");

    let rejected = [
        (json!({"name": "x", "instanceId": "s-1"}), 409, "CONFLICT"),
        (json!({"name": ""}), 400, "BAD_REQUEST"),
        (
            json!({"name": "x", "instanceId": "@counter@1"}),
            400,
            "BAD_REQUEST",
        ),
        (json!({"name": "x", "bogus": 1}), 400, "BAD_REQUEST"),
        (json!({"instanceId": "no-name"}), 400, "BAD_REQUEST"),
        (
            json!({"name": "x", "scheduledStartAt": "soon"}),
            400,
            "BAD_REQUEST",
        ),
        (json!([1, 2]), 400, "BAD_REQUEST"),
    ];
    for (body, status, code) in rejected {
        let (got, answer) = api.post("/api/v1/instances", body.clone()).await?;
        assert_eq!(
            (got, error_code(&answer)),
            (status, code),
            "{body}: {answer}"
        );
    }
    let (status, body) = api
        .http
        .post(api.url("/api/v1/instances"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))?;
    assert_eq!(status, 400, "{:?}", body.text().await?);

    // A cross-site form post cannot start anything.
    let response = api
        .http
        .post(api.url("/api/v1/instances"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=evil&instanceId=evil")
        .send()
        .await?;
    assert_eq!(response.status(), 415);
    let (status, _) = api.get("/api/v1/instances/evil").await?;
    assert_eq!(status, 404, "the form post created nothing");
    Ok(())
}

#[tokio::test]
async fn instance_and_history_of_a_completed_orchestration() -> Result {
    let api = Api::start().await?;
    let _worker = spawn_worker(api.backend.address()).await?;
    api.start_instance("complete", "done-1").await?;
    let done = api.wait_status("done-1", "COMPLETED").await?;
    assert_eq!(done["output"], "\"done\"");
    assert!(done["completedAt"].is_string(), "{done}");

    let (status, history) = api.get("/api/v1/instances/done-1/history").await?;
    assert_eq!(status, 200);
    let events = history["events"].as_array().ok_or("no events")?;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "orchestratorStarted",
            "executionStarted",
            "orchestratorCompleted",
            "executionCompleted"
        ]
    );
    assert_eq!(events[1]["details"]["name"], "complete");
    assert_eq!(events[3]["details"]["result"], "\"done\"");
    assert_eq!(
        events[3]["details"]["orchestrationStatus"],
        "ORCHESTRATION_STATUS_COMPLETED"
    );
    assert!(events.iter().all(|e| e["timestamp"].is_string()));

    api.start_instance("fail", "failed-1").await?;
    let failed = api.wait_status("failed-1", "FAILED").await?;
    assert_eq!(failed["failure"]["errorType"], "TestError");
    assert_eq!(
        failed["failure"]["stackTrace"],
        "at test_worker (line 1)\nat tokio (line 2)"
    );

    for path in ["/api/v1/instances/nope", "/api/v1/instances/nope/history"] {
        let (status, body) = api.get(path).await?;
        assert_eq!((status, error_code(&body)), (404, "NOT_FOUND"), "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn actions_answer_404_for_unknown_and_409_for_the_wrong_state() -> Result {
    let api = Api::start().await?;
    let _worker = spawn_worker(api.backend.address()).await?;
    api.start_instance("wait", "w-1").await?;
    api.wait_status("w-1", "RUNNING").await?;
    api.start_instance("complete", "c-1").await?;
    api.wait_status("c-1", "COMPLETED").await?;
    api.start_instance("fail", "f-1").await?;
    api.wait_status("f-1", "FAILED").await?;

    let reason = json!({"reason": "testing"});
    let table: Vec<(&str, &str, Value, u16)> = vec![
        ("nope", "raise-event", json!({"name": "e"}), 404),
        ("nope", "terminate", json!({}), 404),
        ("nope", "suspend", json!({}), 404),
        ("nope", "resume", json!({}), 404),
        ("nope", "restart", json!({}), 404),
        ("nope", "rewind", json!({}), 404),
        ("c-1", "raise-event", json!({"name": "e"}), 409),
        ("c-1", "terminate", reason.clone(), 409),
        ("c-1", "suspend", json!({}), 409),
        ("c-1", "resume", json!({}), 409),
        ("c-1", "rewind", json!({}), 409),
        ("w-1", "restart", json!({}), 409),
        ("w-1", "rewind", json!({}), 409),
        ("w-1", "raise-event", json!({"data": 1}), 400),
        ("w-1", "terminate", json!({"reason": 5}), 400),
        ("w-1", "suspend", json!({"recursive": true}), 400),
        ("w-1", "restart", json!({"newInstanceId": "yes"}), 400),
    ];
    for (id, action, body, expected) in table {
        let (status, answer) = api
            .post(&format!("/api/v1/instances/{id}/{action}"), body.clone())
            .await?;
        assert_eq!(status, expected, "{action} on {id} with {body}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    for action in [
        "raise-event",
        "terminate",
        "suspend",
        "resume",
        "restart",
        "rewind",
    ] {
        let response = api
            .http
            .post(api.url(&format!("/api/v1/instances/w-1/{action}")))
            .body("reason=x")
            .send()
            .await?;
        assert_eq!(
            response.status(),
            415,
            "{action} without a JSON content type"
        );
    }

    // The happy paths, each seen through the worker.
    let (status, _) = api
        .post("/api/v1/instances/w-1/suspend", reason.clone())
        .await?;
    assert_eq!(status, 202);
    api.wait_status("w-1", "SUSPENDED").await?;
    let (status, _) = api.post("/api/v1/instances/w-1/resume", json!({})).await?;
    assert_eq!(status, 202);
    api.wait_status("w-1", "RUNNING").await?;
    let (status, _) = api
        .post(
            "/api/v1/instances/w-1/raise-event",
            json!({"name": "finish", "data": {"ok": true}}),
        )
        .await?;
    assert_eq!(status, 202);
    let finished = api.wait_status("w-1", "COMPLETED").await?;
    assert_eq!(finished["output"], r#"{"ok":true}"#);

    api.start_instance("wait", "w-2").await?;
    api.wait_status("w-2", "RUNNING").await?;
    let (status, _) = api
        .post("/api/v1/instances/w-2/terminate", reason.clone())
        .await?;
    assert_eq!(status, 202);
    let terminated = api.wait_status("w-2", "TERMINATED").await?;
    assert_eq!(terminated["output"], "\"testing\"");

    let (status, body) = api.post("/api/v1/instances/f-1/rewind", reason).await?;
    assert_eq!(status, 202, "{body}");
    api.wait_status("f-1", "FAILED").await?; // the worker fails it again

    let (status, body) = api
        .post(
            "/api/v1/instances/c-1/restart",
            json!({"newInstanceId": true}),
        )
        .await?;
    assert_eq!(status, 202, "{body}");
    let new_id = body["instanceId"].as_str().ok_or("no id")?;
    assert_ne!(new_id, "c-1");
    api.wait_status(new_id, "COMPLETED").await?;
    let (status, body) = api.post("/api/v1/instances/c-1/restart", json!({})).await?;
    assert_eq!((status, &body["instanceId"]), (202, &json!("c-1")));

    // Purge: unknown, running, finished.
    let (status, _) = api.delete("/api/v1/instances/nope").await?;
    assert_eq!(status, 404);
    api.start_instance("wait", "w-3").await?;
    let (status, body) = api.delete("/api/v1/instances/w-3").await?;
    assert_eq!((status, error_code(&body)), (409, "CONFLICT"));
    let (status, body) = api.delete("/api/v1/instances/w-2?recursive=true").await?;
    assert_eq!((status, &body["deletedInstanceCount"]), (200, &json!(1)));
    let (status, _) = api.get("/api/v1/instances/w-2").await?;
    assert_eq!(status, 404);
    let (status, _) = api.delete("/api/v1/instances/w-1?recursive=maybe").await?;
    assert_eq!(status, 400);
    Ok(())
}

#[tokio::test]
async fn entities_list_get_and_signal() -> Result {
    let api = Api::start().await?;
    let _worker = spawn_worker(api.backend.address()).await?;
    for amount in [2, 3] {
        let (status, body) = api
            .post(
                "/api/v1/entities/@counter@one/signal",
                json!({"operation": "add", "input": amount}),
            )
            .await?;
        assert_eq!(status, 202, "{body}");
    }
    let end = tokio::time::Instant::now() + DEADLINE;
    let entity = loop {
        let (status, body) = api.get("/api/v1/entities/@counter@one").await?;
        if status == 200 && body["state"] == "5" {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "state never became 5: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        (entity["name"].as_str(), entity["key"].as_str()),
        (Some("counter"), Some("one"))
    );
    assert_eq!(entity["backlog"], 0);

    let (status, page) = api.get("/api/v1/entities?idPrefix=@counter@").await?;
    assert_eq!(status, 200);
    assert_eq!(page["entities"][0]["entityId"], "@counter@one");
    assert_eq!(page["entities"][0]["state"], "5");
    let (_, lean) = api.get("/api/v1/entities?includeState=false").await?;
    assert!(lean["entities"][0].get("state").is_none(), "{lean}");
    let (_, none) = api.get("/api/v1/entities?idPrefix=@other@").await?;
    assert_eq!(none["entities"], json!([]));

    let (status, body) = api.get("/api/v1/entities/@counter@missing").await?;
    assert_eq!((status, error_code(&body)), (404, "NOT_FOUND"));
    let (status, body) = api
        .post(
            "/api/v1/entities/not-an-entity/signal",
            json!({"operation": "add"}),
        )
        .await?;
    assert_eq!((status, error_code(&body)), (400, "BAD_REQUEST"), "{body}");
    let (status, _) = api
        .post("/api/v1/entities/@counter@one/signal", json!({}))
        .await?;
    assert_eq!(status, 400);
    let (status, _) = api.get("/api/v1/entities?pageSize=0").await?;
    assert_eq!(status, 400);
    Ok(())
}

#[tokio::test]
async fn stats_metrics_and_health() -> Result {
    let api = Api::start().await?;
    let _worker = spawn_worker(api.backend.address()).await?;
    api.start_instance("complete", "m-1").await?;
    api.wait_status("m-1", "COMPLETED").await?;
    api.start_instance("wait", "m-2").await?;
    api.wait_status("m-2", "RUNNING").await?;
    let (status, _) = api
        .post("/api/v1/instances", json!({"name": "later", "instanceId": "m-3", "scheduledStartAt": "2999-01-01T00:00:00Z"}))
        .await?;
    assert_eq!(status, 201);

    let (status, stats) = api.get("/api/v1/stats").await?;
    assert_eq!(status, 200);
    assert_eq!(stats["instances"]["COMPLETED"], 1, "{stats}");
    assert_eq!(stats["instances"]["RUNNING"], 1);
    assert_eq!(stats["instances"]["PENDING"], 1);
    assert_eq!(stats["instances"]["FAILED"], 0);
    assert_eq!(stats["scheduled"], 1, "the delayed start");
    assert_eq!(stats["total"], 3);
    assert_eq!(stats["workers"], 1);
    let dispatched = stats["workItems"]["dispatched"]["orchestration"]
        .as_u64()
        .unwrap_or(0);
    assert!(dispatched >= 2, "{stats}");
    assert_eq!(
        stats["workItems"]["completed"]["orchestration"].as_u64(),
        Some(dispatched)
    );

    let response = api.http.get(api.url("/metrics")).send().await?;
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await?;
    for line in [
        "dt_instances{status=\"COMPLETED\"} 1",
        "dt_instances{status=\"RUNNING\"} 1",
        "dt_connected_workers 1",
        &format!("dt_work_items_dispatched_total{{kind=\"orchestration\"}} {dispatched}"),
        "dt_work_items_redelivered_total{kind=\"activity\",cause=\"disconnect\"} 0",
        "dt_grpc_requests_total{method=\"GetWorkItems\",code=\"OK\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line `{line}` in\n{text}"
        );
    }
    assert!(
        text.lines().any(|l| l.starts_with(
            "dt_grpc_request_duration_seconds_count{method=\"CompleteOrchestratorTask\"}"
        )),
        "{text}"
    );
    assert!(!text.contains("m-1"), "no instance ids in metrics");

    let response = api.http.get(api.url("/healthz")).send().await?;
    assert_eq!(response.status(), 200);
    Ok(())
}

#[tokio::test]
async fn live_feed_reports_changes() -> Result {
    let api = Api::start().await?;
    let mut feed = api.http.get(api.url("/api/v1/events")).send().await?;
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()["content-type"]
            .to_str()?
            .starts_with("text/event-stream")
    );
    api.start_instance("hello", "feed-1").await?;
    let mut seen = String::new();
    let end = tokio::time::Instant::now() + DEADLINE;
    while !seen.contains("\"instanceIds\":[\"feed-1\"]") {
        let chunk = tokio::time::timeout_at(end, feed.chunk())
            .await
            .map_err(|_| format!("no change event for feed-1; got {seen:?}"))??
            .ok_or("the feed ended")?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: change"), "{seen}");

    // The feed ends when the server shuts down.
    api.backend.stop().await;
    let rest = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(_)) = feed.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the feed did not end on shutdown");
    Ok(())
}

#[tokio::test]
async fn only_the_servers_own_host_names_are_answered() -> Result {
    let api = Api::with(dt_http::HttpOptions {
        allowed_hosts: dt_http::HttpOptions::loopback_hosts(),
        ..Default::default()
    })
    .await?;
    let port = api
        .backend
        .http_address()
        .and_then(|a| a.rsplit_once(':').map(|(_, p)| p.to_owned()))
        .ok_or("no port")?;
    for (host, expected) in [
        (format!("127.0.0.1:{port}"), 200),
        (format!("localhost:{port}"), 200),
        (format!("LOCALHOST:{port}"), 200),
        (format!("[::1]:{port}"), 200),
        ("localhost".to_owned(), 200),
        (format!("attacker.example:{port}"), 403),
        ("attacker.example".to_owned(), 403),
        (format!("localhost.attacker.example:{port}"), 403),
    ] {
        for path in ["/", "/api/v1/instances"] {
            let response = api
                .http
                .get(api.url(path))
                .header("host", &host)
                .send()
                .await?;
            assert_eq!(
                response.status().as_u16(),
                expected,
                "{path} with Host {host}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn read_only_refuses_changes() -> Result {
    let api = Api::with(dt_http::HttpOptions {
        read_only: true,
        ..Default::default()
    })
    .await?;
    let (status, body) = api.post("/api/v1/instances", json!({"name": "x"})).await?;
    assert_eq!((status, error_code(&body)), (403, "READ_ONLY"));
    let (status, _) = api.delete("/api/v1/instances/x").await?;
    assert_eq!(status, 403);
    let (status, info) = api.get("/api/v1/info").await?;
    assert_eq!((status, &info["readOnly"]), (200, &json!(true)));
    let (status, _) = api.get("/api/v1/instances").await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn openapi_document_describes_every_route() -> Result {
    let api = Api::start().await?;
    let (status, doc) = api.get("/api/v1/openapi.json").await?;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let routes = [
        ("/api/v1/instances", "get"),
        ("/api/v1/instances", "post"),
        ("/api/v1/instances/{id}", "get"),
        ("/api/v1/instances/{id}", "delete"),
        ("/api/v1/instances/{id}/history", "get"),
        ("/api/v1/instances/{id}/raise-event", "post"),
        ("/api/v1/instances/{id}/terminate", "post"),
        ("/api/v1/instances/{id}/suspend", "post"),
        ("/api/v1/instances/{id}/resume", "post"),
        ("/api/v1/instances/{id}/restart", "post"),
        ("/api/v1/instances/{id}/rewind", "post"),
        ("/api/v1/entities", "get"),
        ("/api/v1/entities/{id}", "get"),
        ("/api/v1/entities/{id}/signal", "post"),
        ("/api/v1/stats", "get"),
        ("/api/v1/info", "get"),
        ("/api/v1/events", "get"),
        ("/api/v1/openapi.json", "get"),
    ];
    for (path, method) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .filter_map(Value::as_object)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(
        documented,
        routes.len(),
        "an undocumented or unexpected operation"
    );
    // The bearer token is declared (optional: a server without tokens takes calls without
    // one), with the 401 on every call and the 413 on every call with a body.
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "the bearer scheme"
    );
    assert_eq!(doc["security"], json!([{}, {"bearer": []}]));
    for (path, method) in routes {
        let responses = &doc["paths"][path][method]["responses"];
        assert!(
            responses["401"].is_object(),
            "{method} {path} lacks its 401"
        );
        let has_body = doc["paths"][path][method]["requestBody"].is_object();
        assert_eq!(
            responses["413"].is_object(),
            has_body,
            "{method} {path}: a 413 exactly when it takes a body"
        );
    }
    let params: Vec<&str> = doc["paths"]["/api/v1/instances"]["get"]["parameters"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        params,
        [
            "status",
            "namePrefix",
            "instanceIdPrefix",
            "createdFrom",
            "createdTo",
            "pageSize",
            "continuationToken"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn page_assets_and_security_headers() -> Result {
    let api = Api::start().await?;
    for (path, kind) in [
        ("/", "text/html"),
        ("/instances/some%20id", "text/html"),
        ("/entities", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/timeline.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let response = api.http.get(api.url(path)).send().await?;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"].to_str()?.starts_with(kind),
            "{path}"
        );
        let csp = headers["content-security-policy"].to_str()?;
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let index = api.http.get(api.url("/")).send().await?.text().await?;
    assert!(
        !index.contains("http://") && !index.contains("https://"),
        "no external resource"
    );
    let (status, body) = api.get("/api/v1/nothing-here").await?;
    assert_eq!((status, error_code(&body)), (404, "NOT_FOUND"));
    Ok(())
}
