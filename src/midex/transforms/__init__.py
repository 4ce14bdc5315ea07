"""Pure DataFrame -> DataFrame steps: harmonise, resolve, the impact tables, their formulas, currency conversion. They read no files and write none."""
