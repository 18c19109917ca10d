//! stub
#![allow(missing_docs)]
use linfa as _;
use linfa_logistic as _;
use linfa_trees as _;
