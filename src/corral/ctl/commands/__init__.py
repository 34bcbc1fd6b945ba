"""supervisorctl's commands, one mixin per family, combined by corral.ctl.controller."""
