//! CSV records mapped by header name.
