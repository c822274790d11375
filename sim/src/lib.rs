//! Simulation framework (grows in issue 3).
