// Copyright (c) Microsoft Corporation. All Rights reserved
// Licensed under the MIT license.

mod claims_based_security;
mod connection;
mod management;
mod receiver;
mod sender;

pub(crate) use connection::RecoverableConnection;
pub(crate) use sender::RecoverableSender;
