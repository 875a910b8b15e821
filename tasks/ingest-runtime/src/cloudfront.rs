//! CloudFront standard (W3C) access logs.
