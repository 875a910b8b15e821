//! The push-proxy log table: the reference columns of the old loader, the split columns, and the
//! newer ALB fields, in log order.
//!
//! Three columns repeat others verbatim: `client_and_port`, `target_and_port` and `request` are
//! the fields as logged, which `client_ip`/`client_port`, `target_ip`/`target_port` and
//! `request_method`/`request_url`/`request_http_version` split. They are the old loader's
//! columns, kept because queries and dashboards written against its Snowflake table read them
//! (about a seventh of the table's bytes: 6.7 of 45.7 MB on 256 MiB of logs). Drop them once no
//! query does: Snowflake's `ACCESS_HISTORY` lists the columns each query read.

use ingest_format::table::{Column, ColumnType::*, TableSchema};

pub static ALB_TABLE: TableSchema = TableSchema {
    columns: &[
        Column::new(
            "type",
            Text,
            "request type: http, https, h2, grpcs, ws, wss",
        ),
        Column::new(
            "time",
            TimestampMicros,
            "when the load balancer sent the response (UTC)",
        ),
        Column::new("elb", Text, "load balancer resource id"),
        Column::new(
            "client_and_port",
            Text,
            "client ip:port as logged (the old loader's column; see the module doc)",
        ),
        Column::new("client_ip", Text, "client IP address (IPv4 or IPv6)"),
        Column::new("client_port", Int32, "client port"),
        Column::new(
            "target_and_port",
            Text,
            "target ip:port as logged; NULL when no target (the old loader's column)",
        ),
        Column::new("target_ip", Text, "target IP address"),
        Column::new("target_port", Int32, "target port"),
        Column::new(
            "request_processing_time",
            Float64,
            "seconds; -1 when the request never reached a target",
        ),
        Column::new(
            "target_processing_time",
            Float64,
            "seconds; -1 when the target did not answer",
        ),
        Column::new(
            "response_processing_time",
            Float64,
            "seconds; -1 when the request never reached a target",
        ),
        Column::new(
            "elb_status_code",
            Int32,
            "status code the load balancer returned",
        ),
        Column::new(
            "target_status_code",
            Int32,
            "status code the target returned",
        ),
        Column::new("received_bytes", Int64, "request size in bytes"),
        Column::new("sent_bytes", Int64, "response size in bytes"),
        Column::new(
            "request",
            Text,
            "request line: method url http-version (the old loader's column)",
        ),
        Column::new("request_method", Text, "method split from request"),
        Column::new("request_url", Text, "url split from request"),
        Column::new(
            "request_http_version",
            Text,
            "protocol version split from request",
        ),
        Column::new("user_agent", Text, "User-Agent header"),
        Column::new("ssl_cipher", Text, "TLS cipher (https listeners)"),
        Column::new("ssl_protocol", Text, "TLS protocol (https listeners)"),
        Column::new("target_group_arn", Text, "target group ARN"),
        Column::new("trace_id", Text, "X-Amzn-Trace-Id"),
        Column::new("domain_name", Text, "SNI domain"),
        Column::new("chosen_cert_arn", Text, "certificate presented"),
        Column::new(
            "matched_rule_priority",
            Int32,
            "priority of the listener rule that matched (0 = default)",
        ),
        Column::new(
            "request_creation_time",
            TimestampMicros,
            "when the load balancer received the request (UTC)",
        ),
        Column::new("actions_executed", Text, "actions taken, comma-separated"),
        Column::new("redirect_url", Text, "Location of a redirect"),
        Column::new("error_reason", Text, "error reason code"),
        Column::new(
            "target_port_list",
            Text,
            "targets tried, space-separated ip:port",
        ),
        Column::new(
            "target_status_code_list",
            Text,
            "status codes of the targets tried",
        ),
        Column::new("classification", Text, "desync mitigation classification"),
        Column::new(
            "classification_reason",
            Text,
            "desync classification reason",
        ),
        Column::new("conn_trace_id", Text, "connection trace id (since 2024)"),
        Column::new(
            "transformed_host",
            Text,
            "host after a header transform (since 2025)",
        ),
        Column::new(
            "transformed_uri",
            Text,
            "URI after a URL transform (since 2025)",
        ),
        Column::new(
            "request_transform_status",
            Text,
            "status of the URL transform (since 2025)",
        ),
    ],
};
